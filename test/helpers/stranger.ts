import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { type Cleanup, onCleanup } from './cleanup.js'
import { BROADCAST } from './swarm.js'

/**
 * A stranger on the LAN: a raw UDP socket (bound to its own loopback
 * address, 127.0.0.2 by default, so that it is another host to the
 * dictionary) that sends crafted datagrams to the discovery port, once or
 * every `everyMs` until the test ends. Also collects what is sent back to it.
 */
export interface Stranger {
  socket: Socket
  address: string
  port: number
  /** Datagrams received (answers to its queries), with when they came. */
  received: Array<{ bytes: Buffer; at: number }>
  send(payload: string | Buffer, to?: string): Promise<void>
  /** Send `payload` now and every `everyMs` (one timer per call, stopped at cleanup). */
  repeat(payload: string | Buffer, everyMs: number): void
  /** Answer every query heard on the discovery port with `payload`, by unicast from the stranger's address, as an announcer does. */
  answerQueries(payload: string | Buffer): Promise<void>
}

export async function startStranger(t: Cleanup, udpPort: number, address = '127.0.0.2'): Promise<Stranger> {
  const socket = createSocket('udp4')
  const received: Stranger['received'] = []
  socket.on('message', (bytes) => received.push({ bytes, at: performance.now() }))
  socket.bind(0, address)
  await once(socket, 'listening')
  socket.setBroadcast(true)
  const timers: NodeJS.Timeout[] = []
  onCleanup(
    t,
    () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearInterval(timer)
        socket.close(() => resolve())
      }),
  )
  const send = (payload: string | Buffer, to = BROADCAST): Promise<void> =>
    new Promise((resolve) => socket.send(payload, udpPort, to, () => resolve()))
  return {
    socket,
    address,
    port: socket.address().port,
    received,
    send,
    repeat: (payload, everyMs) => {
      void send(payload)
      timers.push(setInterval(() => void send(payload), everyMs))
    },
    answerQueries: async (payload) => {
      // Broadcasts reach only sockets bound to the wildcard address: hear them there, answer from ours.
      const ear = createSocket({ type: 'udp4', reuseAddr: true })
      ear.on('message', (bytes, from) => {
        if (/"type"\s*:\s*"query"/.test(bytes.toString('utf8', 0, 200))) socket.send(payload, from.port, from.address)
      })
      ear.bind(udpPort, '0.0.0.0')
      await once(ear, 'listening')
      onCleanup(t, () => new Promise<void>((resolve) => ear.close(() => resolve())))
    },
  }
}

/** An announcement datagram as a stranger would craft it (no validation: that is the point). */
export function craftAnnouncement(
  peer: string,
  port: number,
  files: Array<{ id: string; name: string; size: number; chunks: number; have?: string; from?: number }>,
): string {
  return JSON.stringify({ v: 1, type: 'announce', peer, port, files: files.map((f) => ({ have: 'all', ...f })) })
}
