import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { Bitfield } from '../../src/core/bitfield.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements, type LocalFile } from '../../src/core/discovery/announcement-encode.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { BROADCAST } from './swarm.js'

/** A file as a fake peer announces it: complete unless `have` says otherwise. */
export interface FakeFile {
  id: string
  name: string
  size: number
  chunks?: number
  have?: Bitfield
}

/**
 * A peer that announces what the test tells it to, when the test tells it
 * to, on the discovery port (loopback broadcast): for answers that must come
 * late, churn that must happen, and the queries a command sends.
 */
export async function fakeAnnouncer(t: Cleanup, udpPort: number) {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  socket.bind(udpPort, '0.0.0.0')
  await once(socket, 'listening')
  socket.setBroadcast(true)
  onCleanup(t, () => new Promise<void>((resolve) => socket.close(() => resolve())))
  let queries = 0
  const waiters: Array<() => void> = []
  socket.on('message', (msg) => {
    try {
      if (decodeDatagram(msg).type !== 'query') return
    } catch {
      return
    }
    queries++
    for (const wake of waiters.splice(0)) wake()
  })
  const send = (datagram: Buffer) =>
    new Promise<void>((resolve, reject) =>
      socket.send(datagram, udpPort, BROADCAST, (err) => (err ? reject(err) : resolve())),
    )
  return {
    /** Queries heard so far (p2p-listen and p2p-download send one when they start). */
    queries: () => queries,
    /** Resolves when the query count exceeds `count` (default: the count now), bounded by `ms`. */
    async nextQuery(count = queries, ms = 30_000): Promise<void> {
      const deadline = Date.now() + ms
      while (queries <= count) {
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no discovery query within ${ms} ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          waiters.push(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
    },
    /** Announce `files` as peer `peer` serving on TCP `port` (every datagram it takes). */
    async announce(peer: string, port: number, files: FakeFile[]): Promise<void> {
      const local: LocalFile[] = files.map((f) => {
        const chunks = f.chunks ?? Math.max(1, Math.ceil(f.size / (1 << 20)))
        return { id: f.id, name: f.name, size: f.size, have: f.have ?? Bitfield.full(chunks) }
      })
      for (const datagram of encodeAnnouncements(peer, port, local)) await send(datagram)
    },
  }
}

/** A 64-hex id that is not the hash of anything we hold (`n` tells them apart). */
export const fakeId = (n: number): string => n.toString(16).padStart(64, 'e')
