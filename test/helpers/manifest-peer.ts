import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { Bitfield } from '../../src/core/bitfield.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement-encode.js'
import { manifestId } from '../../src/core/manifest.js'
import { encodeFrame, type Frame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { BROADCAST } from './swarm.js'

/**
 * A peer that serves whatever manifest bytes it is given, under their own
 * SHA-256 as the id (so the id matches: only the content lies), announces
 * that id under `name` with every chunk, and serves chunks from `chunks`
 * (by index) or answers E_NOT_FOUND. What a hostile peer that made up a
 * folder looks like to a downloader that was told its id or name.
 */
export async function startManifestPeer(
  t: Cleanup,
  o: {
    udpPort: number
    bytes: Buffer
    name: string
    size: number
    chunks: number
    chunkBytes?: Map<number, Buffer>
    /** The manifest frame's last 64 KiB are sent this long after the rest: a manifest still arriving. */
    holdTailMs?: number
  },
) {
  const id = manifestId(o.bytes)
  let manifestRequests = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    const decoder = new FrameDecoder({ maxHeaderBytes: 16384, maxBodyBytes: 0 })
    socket.on('data', (segment) => {
      let frames: Frame[]
      try {
        frames = decoder.push(segment)
      } catch {
        return void socket.destroy()
      }
      for (const { header } of frames) {
        if (header.type === 'manifest') {
          manifestRequests++
          const frame = encodeFrame({ type: 'manifest', id }, o.bytes)
          if (o.holdTailMs === undefined) socket.write(frame)
          else {
            const cut = Math.max(0, frame.length - 64 * 1024)
            socket.write(frame.subarray(0, cut))
            const timer = setTimeout(() => socket.write(frame.subarray(cut)), o.holdTailMs)
            socket.on('close', () => clearTimeout(timer))
          }
          continue
        }
        const body = o.chunkBytes?.get(header.index as number)
        socket.write(
          body
            ? encodeFrame({ type: 'chunk', id, index: header.index }, body)
            : encodeFrame({ type: 'error', code: 'E_NOT_FOUND', message: 'no' }),
        )
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const udp = createSocket({ type: 'udp4', reuseAddr: true })
  await new Promise<void>((resolve) => udp.bind(o.udpPort, () => resolve()))
  udp.setBroadcast(true)
  const [datagram] = encodeAnnouncements(`mfst${randomBytes(6).toString('hex')}`, port, [
    { id, name: o.name, size: o.size, have: Bitfield.full(o.chunks) },
  ])
  const announce = () => udp.send(datagram!, o.udpPort, BROADCAST)
  udp.on('message', (bytes) => {
    try {
      if (decodeDatagram(bytes).type === 'query') announce()
    } catch {
      /* not for us */
    }
  })
  const timer = setInterval(announce, 100)
  onCleanup(t, () => {
    clearInterval(timer)
    udp.close()
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { id, port, manifestRequests: () => manifestRequests }
}
