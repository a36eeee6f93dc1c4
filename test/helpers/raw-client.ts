import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import type { Manifest } from '../../src/core/manifest.js'
import { encodeFrame, type Frame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from './cleanup.js'

/**
 * A raw TCP client for the chunk server, for inputs and behaviours no real
 * client has (pipelining without reading, resets, bound to another loopback
 * address to stand for another host). Frames it receives are decoded and
 * kept; `check` verifies every one against the requests sent, in order.
 */

export interface RawClient {
  socket: Socket
  frames: Frame[]
  /** Headers of the complete requests written, in order. */
  sent: Array<Record<string, unknown>>
  closed(): boolean
  send(header: Record<string, unknown>): void
  next(ms?: number): Promise<Frame>
  waitClosed(ms?: number): Promise<void>
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function rawClient(
  t: Cleanup,
  port: number,
  options: { localAddress?: string; read?: boolean } = {},
): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: options.localAddress })
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  onCleanup(t, () => {
    socket.destroy()
  })
  const decoder = new FrameDecoder({ maxHeaderBytes: 1 << 20, maxBodyBytes: 64 << 20 })
  const frames: Frame[] = []
  let closed = false
  socket.on('data', (d: Buffer) => {
    try {
      frames.push(...decoder.push(d))
    } catch {
      frames.push({ header: { type: 'undecodable' }, body: undefined })
    }
  })
  socket.on('close', () => {
    closed = true
  })
  if (options.read === false) socket.pause()
  const sent: Array<Record<string, unknown>> = []
  let taken = 0
  return {
    socket,
    frames,
    sent,
    closed: () => closed,
    send(header) {
      sent.push(header)
      socket.write(encodeFrame(header))
    },
    async next(ms = 3000) {
      const deadline = Date.now() + ms
      while (frames.length <= taken && Date.now() < deadline && !closed) await sleep(5)
      const f = frames[taken++]
      if (!f) assert.fail('no frame arrived')
      return f
    },
    async waitClosed(ms = 3000) {
      const deadline = Date.now() + ms
      while (!closed && Date.now() < deadline) await sleep(5)
      assert.ok(closed, 'connection closed by the server')
    },
  }
}

/**
 * Every frame received answers the request sent in its place (same type, id
 * and index, or an error), and every chunk's bytes are that chunk's: the
 * header's index matches the body's SHA-256. Returns the chunks verified.
 */
export function checkAnswers(client: Pick<RawClient, 'frames' | 'sent'>, manifests: Map<string, Manifest>): number {
  let chunks = 0
  client.frames.forEach((f, i) => {
    const asked = client.sent[i]
    const where = `answer ${i} to ${JSON.stringify(asked)}: ${JSON.stringify(f.header)}`
    assert.notEqual(f.header.type, 'undecodable', where)
    if (f.header.type === 'error') return
    assert.ok(asked, `an answer with no request: ${where}`)
    assert.equal(f.header.type, asked.type, where)
    assert.equal(f.header.id, asked.id, where)
    if (f.header.type === 'chunk') {
      assert.equal(f.header.index, asked.index, where)
      const m = manifests.get(String(f.header.id))!
      assert.equal(sha256(f.body!), m.chunks[Number(f.header.index)], `wrong bytes under a chunk header: ${where}`)
      chunks++
    } else {
      assert.equal(sha256(f.body!), f.header.id, where)
    }
  })
  return chunks
}

/** Pipelined chunk requests, written in one go. */
export function pipeline(client: RawClient, id: string, indices: number[]): void {
  const headers = indices.map((index) => ({ type: 'chunk', id, index }))
  client.sent.push(...headers)
  client.socket.write(Buffer.concat(headers.map((h) => encodeFrame(h))))
}

/** Poll `condition` until true or `ms` pass (for server-side state with no event to wait on). */
export async function until(condition: () => boolean, ms = 5000, step = 10): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await sleep(step)
  return condition()
}

/** A plain socket to the server on `port` that reads nothing (paused), destroyed when the test ends. */
export async function silentSocket(t: Cleanup, port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => undefined)
  onCleanup(t, () => {
    socket.destroy()
  })
  await once(socket, 'connect')
  socket.pause()
  return socket
}
