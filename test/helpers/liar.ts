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
 *   escape     → error frames full of terminal escapes for every request (ESCAPE_TEXT), and a second
 *                announcement of files whose names hold the same (issue 14, FAULTS.md case 41)
 * Manifests (except `forge`) and correct chunks come from a real store.
 */
export type Misbehaviour = 'random' | 'missing' | 'short' | 'long' | 'forge' | 'escape'

// --- escape mode (FAULTS.md case 41) ---
/** Erase the line, forge a green "Downloaded:", set the title, write the clipboard (OSC 52), reverse text, 8-bit CSI. */
export const ESCAPE_TEXT = '\x1b[2K\r\x1b[32mDownloaded:\x1b[0m /home/you/ok \x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07 \u202egnp.exe \x9b2J\x1bP1$r\x1b\\ \u2066x\u2069\x08\x7f'
/** Refused by every receiver, but the last: valid, shown with its zero-width space escaped. Announced under another id. */
export const ESCAPE_NAMES = ['\x1b]0;title\x07.bin', 'report\u202efdp.exe', '\u200b\u200b', '.P2P', 'zero\u200bwidth.bin']
function escapeFrame(): Buffer {
  return encodeFrame({ type: 'error', code: 'E_\x1b[31mX', message: ESCAPE_TEXT })
}
function escapeAnnouncement(port: number, id: string, size: number): Buffer[] {
  const other = `${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`
  return ESCAPE_NAMES.map((name) => Buffer.from(JSON.stringify({ v: 1, type: 'announce', peer: '1ia71ia71ia71ia7', port, files: [{ id: other, name, size, chunks: 1, have: 'all' }] })))
}
// --- end of escape mode ---

export async function startLiar(t: Cleanup, o: { udpPort: number; storeDir: string; name: string; id: string; mode: Misbehaviour }) {
  const entry = join(o.storeDir, 'chunks', o.name)
  const manifest = await readFile(join(entry, 'manifest.json'))
  const m = JSON.parse(manifest.toString()) as { size: number; chunks: string[] }
  const chunk = (index: number) => readFile(join(entry, `${String(index).padStart(6, '0')}.chunk`))
  let chunkRequests = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    const decoder = new FrameDecoder({ maxHeaderBytes: 16384, maxBodyBytes: 0 })
    let queue = Promise.resolve()
    socket.on('error', () => undefined)
    socket.on('data', (segment) => {
      for (const { header } of decoder.push(segment)) {
        queue = queue.then(async () => {
          if (o.mode === 'escape') return void socket.write(escapeFrame())
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
  const extra = o.mode === 'escape' ? escapeAnnouncement(port, o.id, m.size) : []
  const timer = setInterval(() => { for (const d of [datagram!, ...extra]) udp.send(d, o.udpPort, BROADCAST) }, 100)
  onCleanup(t, () => {
    clearInterval(timer)
    udp.close()
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { port, requests: () => chunkRequests }
}
