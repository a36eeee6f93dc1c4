import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { Bitfield } from '../../src/core/bitfield.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement-encode.js'
import { encodeFrame, encodeHeader, FrameDecoder } from '../../src/core/transfer/framing.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { SecureSocket } from '../../src/core/trust/secure-socket.js'
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
 *   oversize   → a chunk header claiming ~60 MiB (a different size each time), then streams that many bytes
 *   undersize  → a chunk header claiming half the chunk, then that half
 *   silent     → accepts, reads, never answers anything (not even the manifest)
 *   slow       → the right bytes, each response `delayMs` (default 600 ms: slower than an honest seeder even at load 15, faster than the first deadline of 1 s) after the previous one
 *   trickle    → the right header, then the body 512 bytes every 100 ms
 *   stall      → the right header and half the body, then nothing
 *   reorder    → the right bytes under another chunk's index
 *   huge-header → a length prefix of 0xFFFFFFFF, then garbage
 *   huge-error → an error frame whose message is 1 MiB long
 *   error-body → an error frame that declares a 60 MiB body
 *   reset      → accepts, then resets the connection (RST) at the first chunk request
 *   refuse     → resets every connection (RST) as soon as it is accepted
 *   escape     → error frames full of terminal escapes for every request (ESCAPE_TEXT), and a second
 *                announcement of files whose names hold the same (issue 14, FAULTS.md case 41)
 * Manifests (except `forge` and `silent`) and correct chunks come from a real store.
 *
 * By default it is a peer of the encrypted transport with an identity of its
 * own (announced, and held: its lies arrive inside a valid Noise session, as a
 * misbehaving peer's would); `transport: 'plain'` makes it speak the plain
 * protocol to a `--transport plain` downloader.
 */
export type Misbehaviour =
  | 'random'
  | 'missing'
  | 'short'
  | 'long'
  | 'forge'
  | 'oversize'
  | 'undersize'
  | 'silent'
  | 'slow'
  | 'trickle'
  | 'stall'
  | 'reorder'
  | 'huge-header'
  | 'huge-error'
  | 'error-body'
  | 'reset'
  | 'refuse'
  | 'escape'

// --- escape mode (FAULTS.md case 41) ---
/** Erase the line, forge a green "Downloaded:", set the title, write the clipboard (OSC 52), reverse text, 8-bit CSI. */
export const ESCAPE_TEXT =
  '\x1b[2K\r\x1b[32mDownloaded:\x1b[0m /home/you/ok \x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07 \u202egnp.exe \x9b2J\x1bP1$r\x1b\\ \u2066x\u2069\x08\x7f'
/** Refused by every receiver, but the last: valid, shown with its zero-width space escaped. Announced under another id. */
export const ESCAPE_NAMES = [
  '\x1b]0;title\x07.bin',
  'report\u202efdp.exe',
  '\u200b\u200b',
  '.P2P',
  'zero\u200bwidth.bin',
]
function escapeFrame(): Buffer {
  return encodeFrame({ type: 'error', code: 'E_\x1b[31mX', message: ESCAPE_TEXT })
}
function escapeAnnouncement(port: number, id: string, size: number, noisePeer?: string): Buffer[] {
  const other = `${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`
  return ESCAPE_NAMES.map((name) =>
    Buffer.from(
      JSON.stringify({
        v: 1,
        type: 'announce',
        peer: noisePeer ?? '1ia71ia71ia71ia7',
        ...(noisePeer ? { transport: 'noise' } : {}),
        port,
        files: [{ id: other, name, size, chunks: 1, have: 'all' }],
      }),
    ),
  )
}
// --- end of escape mode ---

const MiB = 1024 * 1024
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What the liar writes to: the TCP socket, or the encrypted session over it. */
interface LiarSocket {
  readonly destroyed: boolean
  write(bytes: Buffer): boolean
  end(): unknown
  end(bytes: Buffer): unknown
  destroy(): void
  resetAndDestroy(): void
  on(event: 'data', listener: (bytes: Buffer) => void): void
  on(event: 'drain' | 'close', listener: () => void): void
  off(event: 'drain' | 'close', listener: () => void): void
}

function encrypted(raw: Socket, keyPair: ReturnType<typeof NoiseSecretStream.keyPair>): LiarSocket {
  const secure = SecureSocket.accept(raw, { keyPair })
  return {
    get destroyed() {
      return secure.closed
    },
    write: (bytes) => secure.write(bytes),
    end: (bytes?: Buffer) => secure.end(bytes),
    destroy: () => secure.destroy(),
    resetAndDestroy: () => raw.resetAndDestroy(),
    on: (event: string, listener: (bytes: Buffer) => void) => void secure.on(event, listener),
    off: (event: string, listener: () => void) => void secure.off(event, listener),
  }
}

/** Write `total` filler bytes, respecting backpressure, until done or the socket dies. */
async function stream(socket: LiarSocket, total: number): Promise<void> {
  const piece = Buffer.alloc(MiB, 0x5a)
  for (let sent = 0; sent < total && !socket.destroyed; ) {
    const n = Math.min(piece.length, total - sent)
    sent += n
    if (!socket.write(piece.subarray(0, n))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }
}

export async function startLiar(
  t: Cleanup,
  o: {
    udpPort: number
    storeDir: string
    name: string
    id: string
    mode: Misbehaviour
    delayMs?: number
    transport?: 'encrypted' | 'plain'
    /** Announce only these chunks (a peer holding part of the file); default: all of them. */
    have?: number[]
    /** Announce this peer id (another peer's) instead of the one its key proves. */
    claimPeerId?: string
  },
) {
  const keyPair = NoiseSecretStream.keyPair()
  const plain = o.transport === 'plain'
  const entry = join(o.storeDir, 'chunks', o.name)
  const manifest = await readFile(join(entry, 'manifest.json'))
  const m = JSON.parse(manifest.toString()) as { size: number; chunks: string[] }
  const chunk = (index: number) => readFile(join(entry, `${String(index).padStart(6, '0')}.chunk`))
  let chunkRequests = 0
  let framesReceived = 0
  let connections = 0
  const asked = signal()
  const answered = signal()
  const sockets = new Set<Socket>()
  const answer = async (socket: LiarSocket, header: Record<string, unknown>): Promise<void> => {
    if (o.mode === 'silent') return
    if (o.mode === 'escape') return void socket.write(escapeFrame())
    if (header.type === 'manifest') {
      const body = o.mode === 'forge' ? Buffer.concat([manifest.subarray(0, -1), Buffer.from(' }')]) : manifest
      socket.write(encodeFrame({ type: 'manifest', id: o.id }, body))
      return
    }
    chunkRequests++
    const index = header.index as number
    const good = await chunk(index)
    const chunkHeader = (size: number, at = index) => encodeHeader({ type: 'chunk', id: o.id, index: at, size })
    switch (o.mode) {
      case 'random':
        return void socket.write(encodeFrame({ type: 'chunk', id: o.id, index }, randomBytes(good.length)))
      case 'missing':
        if (index % 2 === 1)
          return void socket.write(encodeFrame({ type: 'error', code: 'E_NOT_FOUND', message: 'no such chunk here' }))
        break
      case 'short':
        return void socket.end(Buffer.concat([chunkHeader(good.length), good.subarray(0, -1)]))
      case 'long':
        return void socket.write(
          Buffer.concat([encodeFrame({ type: 'chunk', id: o.id, index }, good), Buffer.from([0x42])]),
        )
      case 'oversize': {
        const claim = 60 * MiB - index
        socket.write(chunkHeader(claim))
        return stream(socket, claim)
      }
      case 'undersize':
        return void socket.write(Buffer.concat([chunkHeader(good.length >> 1), good.subarray(0, good.length >> 1)]))
      case 'slow':
        await sleep(o.delayMs ?? 600)
        break
      case 'trickle':
        socket.write(chunkHeader(good.length))
        for (let at = 0; at < good.length && !socket.destroyed; at += 512) {
          socket.write(good.subarray(at, at + 512))
          await sleep(100)
        }
        return
      case 'stall': // and nothing more on this connection
        socket.write(Buffer.concat([chunkHeader(good.length), good.subarray(0, good.length >> 1)]))
        return new Promise<void>(() => undefined)
      case 'reorder':
        return void socket.write(Buffer.concat([chunkHeader(good.length, index + 1), good]))
      case 'huge-header':
        return void socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), randomBytes(4096)]))
      case 'huge-error':
        return void socket.write(encodeFrame({ type: 'error', code: 'E_NOT_FOUND', message: 'x'.repeat(MiB) }))
      case 'error-body': {
        socket.write(encodeHeader({ type: 'error', code: 'E_NOT_FOUND', message: 'no', size: 60 * MiB }))
        return stream(socket, 60 * MiB)
      }
      case 'reset':
        return void socket.resetAndDestroy()
      default:
        break
    }
    socket.write(encodeFrame({ type: 'chunk', id: o.id, index }, good))
    answered.resolve()
  }
  const server = createServer((raw) => {
    connections++
    if (o.mode === 'refuse') return void raw.resetAndDestroy()
    sockets.add(raw)
    raw.on('close', () => sockets.delete(raw))
    raw.on('error', () => undefined)
    const socket: LiarSocket = plain ? raw : encrypted(raw, keyPair)
    const decoder = new FrameDecoder({ maxHeaderBytes: 16384, maxBodyBytes: 0 })
    let queue = Promise.resolve()
    socket.on('data', (segment) => {
      let frames: ReturnType<FrameDecoder['push']>
      try {
        frames = decoder.push(segment)
      } catch {
        return void socket.destroy()
      }
      for (const { header } of frames) {
        asked.resolve()
        framesReceived++
        queue = queue.then(() => answer(socket, header)).catch(() => undefined)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  // Bound to the discovery port, as an announcer is: it answers a downloader's query at once, like any seeder.
  const udp = createSocket({ type: 'udp4', reuseAddr: true })
  await new Promise<void>((resolve) => udp.bind(o.udpPort, () => resolve()))
  udp.setBroadcast(true)
  const peerId = o.claimPeerId ?? (plain ? `1ia7${randomBytes(6).toString('hex')}` : formatPeerId(keyPair.publicKey))
  const [datagram] = encodeAnnouncements(
    peerId,
    port,
    [{ id: o.id, name: o.name, size: m.size, have: announcedHave(m.chunks.length, o.have) }],
    undefined,
    plain ? undefined : 'noise',
  )
  const extra = o.mode === 'escape' ? escapeAnnouncement(port, o.id, m.size, plain ? undefined : peerId) : []
  const announce = () => {
    for (const d of [datagram!, ...extra]) udp.send(d, o.udpPort, BROADCAST)
  }
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
  return {
    port,
    requests: () => chunkRequests,
    /** Frames received (requests of any kind, the manifest's included). */
    frames: () => framesReceived,
    connections: () => connections,
    /** Resolves when a downloader first asked this peer anything (bounded by `ms`). */
    asked: (ms = 60_000) => within(asked.promise, ms, 'no request reached the liar'),
    /** Resolves when this peer first sent a chunk's right bytes (bounded by `ms`). */
    answered: (ms = 60_000) => within(answered.promise, ms, 'the liar sent no right chunk'),
  }
}

/** A promise and the function that resolves it (Node 20 has no Promise.withResolvers). */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

function within(promise: Promise<void>, ms: number, failure: string): Promise<void> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${failure} within ${ms} ms`)), ms).unref()),
  ])
}

function announcedHave(count: number, have: number[] | undefined): Bitfield {
  if (have === undefined) return Bitfield.full(count)
  const bits = new Bitfield(count)
  for (const i of have) bits.set(i)
  return bits
}
