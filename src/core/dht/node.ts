import { createSocket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import type { KeyPair } from '@hyperswarm/secret-stream'
import type HyperDHT from 'hyperdht'
import type { DhtSocket, SecretStreamFactory } from 'hyperdht'
import { P2PError } from '../errors.js'
import { boundedSecretStreams } from './bounded-stream.js'
import type { DhtPath } from './session.js'

/**
 * Our nodes of the HyperDHT (hyperdht: Kademlia over UDP, NAT hole punching,
 * Noise connections keyed by ed25519 — the engine under hyperswarm). Which
 * DHT a process joins is the user's choice: `--bootstrap HOST:PORT[,…]`
 * (a private deployment's `p2p dht-node`s), or — only when it says `--dht`
 * without `--bootstrap` — the engine's public bootstrap nodes. Tests always
 * pass their own.
 */

export interface DhtSettings {
  /** HOST:PORT texts (checked by parseBootstrap); undefined: the engine's public defaults. */
  bootstrap?: readonly string[] | undefined
  /** The local address to bind (default all IPv4). */
  host?: string | undefined
  /** The UDP port to bind (default any free one). */
  port?: number | undefined
}

/** The engine, loaded on first use: it costs ~0.5 s of start-up, which a LAN-only command never pays. */
async function engine(): Promise<{ HyperDHT: typeof HyperDHT; createSecretStream: SecretStreamFactory }> {
  const [dht, secretStream] = await Promise.all([import('hyperdht'), import('@hyperswarm/secret-stream')])
  return { HyperDHT: dht.default, createSecretStream: boundedSecretStreams(secretStream.default) }
}

/**
 * Every Noise stream the node makes refuses a message longer than ours (bounded-stream.ts): our dials, our
 * servers' connections, and the relay connections the engine dials itself when a peer's handshake asks it to
 * relay through a key (a stranger's server a download dials, or a stranger dialling a seeder, may ask).
 */
function boundEveryStream(node: HyperDHT, createSecretStream: SecretStreamFactory): HyperDHT {
  const connect = node.connect.bind(node)
  const createServer = node.createServer.bind(node)
  node.connect = (key, options = {}) => connect(key, { ...options, createSecretStream })
  node.createServer = (options = {}, onConnection) => createServer({ ...options, createSecretStream }, onConnection)
  return node
}

/**
 * A DHT node for a seeder or a downloader (ephemeral: it does not store others' records), its UDP sockets bound:
 * a port in use is the command's error at once. Joining the DHT (`ready()`) is the caller's: it takes seconds,
 * longer when the bootstrap nodes do not answer, and a Ctrl-C must not wait for it (unless-aborted.ts).
 */
export async function createDhtNode(settings: DhtSettings, keyPair?: KeyPair): Promise<HyperDHT> {
  const { HyperDHT, createSecretStream } = await engine()
  const host = settings.host ?? '0.0.0.0'
  const node = new HyperDHT({
    ...(settings.bootstrap ? { bootstrap: [...settings.bootstrap] } : {}),
    host,
    // hyperdht reads port 0 as "its default port": a range of [0, 0] is "any free one". A port given is that port
    // or an error: the engine would otherwise take any free one quietly (a range [p, p] tried nothing: until the
    // forty-eighth session --dht-port was never bound).
    ...(settings.port ? { port: settings.port, anyPort: false } : { port: [0, 0] as unknown as number }),
    ...(keyPair ? { keyPair } : {}),
  })
  try {
    await node.bind()
  } catch (err) {
    await node.destroy({ force: true }).catch(() => undefined)
    const where = `${host}:${settings.port || 'any port'}`
    throw new P2PError('E_USAGE', `cannot bind the DHT's UDP socket on ${where}: ${(err as Error).message}`)
  }
  return boundEveryStream(node, createSecretStream)
}

/**
 * A persistent DHT node, for a private deployment's bootstrap (`p2p dht-node`):
 * it stores and serves records and is the first node others contact.
 * Port 0: a free one, found by binding and releasing it first.
 */
export async function createBootstrapNode(settings: {
  host: string
  port: number
  bootstrap?: readonly string[] | undefined
}): Promise<HyperDHT> {
  if (!isIPv4(settings.host) || settings.host === '0.0.0.0')
    throw new P2PError('E_USAGE', `--host must be this node's IPv4 address as others reach it, not ${settings.host}`)
  const port = settings.port || (await freeUdpPort(settings.host))
  const { HyperDHT, createSecretStream } = await engine()
  const node = HyperDHT.bootstrapper(port, settings.host, {
    host: settings.host,
    bootstrap: [...(settings.bootstrap ?? [])],
  })
  try {
    await node.ready()
  } catch (err) {
    await node.destroy().catch(() => undefined)
    throw new P2PError('E_USAGE', `cannot bind the DHT node on ${settings.host}:${port}: ${(err as Error).message}`)
  }
  return boundEveryStream(node, createSecretStream)
}

function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4')
    socket.once('error', reject)
    socket.bind(0, host, () => {
      const { port } = socket.address()
      socket.close(() => resolve(port))
    })
  })
}

/**
 * How an open connection was made, read from the UDP socket under it. hyperdht connects on the DHT node's own
 * sockets when the other side is reachable as it is (its address open, or on our LAN), and on sockets of its
 * pool, which only its hole puncher takes, when a NAT was traversed (a hole punch, also the "fast open" one that
 * connects before the punch proper starts). Undefined: not connected.
 */
export function connectionPath(node: HyperDHT, socket: DhtSocket): DhtPath | undefined {
  const udp = socket.rawStream?.socket
  if (!udp) return undefined
  return udp === node.io.serverSocket || udp === node.io.clientSocket ? 'direct' : 'holepunched'
}
