import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'
import { type AddressInfo, type Socket, createServer } from 'node:net'
import { join } from 'node:path'
import { Bitfield } from '../../src/core/bitfield.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement.js'
import { FrameDecoder, encodeFrame } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { BROADCAST } from './swarm.js'

/**
 * A peer that speaks the protocol but misbehaves, for fault tests. It
 * announces every chunk (a lie unless it serves them right) and answers:
 *   random     → random bytes of the right length for every chunk
 *   missing    → E_NOT_FOUND for odd chunks, the right bytes for even ones
 *   short      → the right header, one byte less, then closes the connection
 *   long       → the right chunk plus one extra byte
 *   forge      → a forged manifest (does not hash to the id)
 * Manifests (except `forge`) and correct chunks come from a real store.
 */
export type Misbehaviour = 'random' | 'missing' | 'short' | 'long' | 'forge'

export async function startLiar(t: Cleanup, o: { udpPort: number; storeDir: string; name: string; id: string; mode: Misbehaviour }) {
  const entry = join(o.storeDir, 'chunks', o.name)
  const manifest = await readFile(join(entry, 'manifest.json'))
  const m = JSON.parse(manifest.toString()) as { size: number; chunks: string[] }
  const chunk = (index: number) => readFile(join(entry, `${String(index).padStart(6, '0')}.chunk`))
  let chunkRequests = 0
  let askedOnce: () => void = () => undefined
  const asked = new Promise<void>((resolve) => { askedOnce = resolve })
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    const decoder = new FrameDecoder({ maxHeaderBytes: 16384, maxBodyBytes: 0 })
    let queue = Promise.resolve()
    socket.on('error', () => undefined)
    socket.on('data', (segment) => {
      for (const { header } of decoder.push(segment)) {
        askedOnce()
        queue = queue.then(async () => {
          if (header.type === 'manifest') {
            const body = o.mode === 'forge' ? Buffer.concat([manifest.subarray(0, -1), Buffer.from(' }')]) : manifest
            socket.write(encodeFrame({ type: 'manifest', id: o.id }, body))
            return
          }
          chunkRequests++
          const index = header.index as number
          const good = await chunk(index)
          if (o.mode === 'random') socket.write(encodeFrame({ type: 'chunk', id: o.id, index }, randomBytes(good.length)))
          else if (o.mode === 'missing' && index % 2 === 1) socket.write(encodeFrame({ type: 'error', code: 'E_NOT_FOUND', message: 'no such chunk here' }))
          else if (o.mode === 'short') socket.end(Buffer.concat([encodeFrame({ type: 'chunk', id: o.id, index, size: good.length }), good.subarray(0, -1)]))
          else if (o.mode === 'long') socket.write(Buffer.concat([encodeFrame({ type: 'chunk', id: o.id, index }, good), Buffer.from([0x42])]))
          else socket.write(encodeFrame({ type: 'chunk', id: o.id, index }, good))
        }).catch(() => undefined)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const udp = createSocket({ type: 'udp4', reuseAddr: true })
  await new Promise<void>((resolve) => udp.bind(0, () => resolve()))
  udp.setBroadcast(true)
  const [datagram] = encodeAnnouncements('1ia71ia71ia71ia7', port, [{ id: o.id, name: o.name, size: m.size, have: Bitfield.full(m.chunks.length) }])
  const timer = setInterval(() => udp.send(datagram!, o.udpPort, BROADCAST), 100)
  onCleanup(t, () => {
    clearInterval(timer)
    udp.close()
    for (const s of sockets) s.destroy()
    server.close()
  })
  return {
    port,
    requests: () => chunkRequests,
    /** Resolves when a downloader first asked this peer anything (bounded by `ms`). */
    asked: (ms = 60_000) => Promise.race([asked, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no request reached the liar within ${ms} ms`)), ms).unref())]),
  }
}
