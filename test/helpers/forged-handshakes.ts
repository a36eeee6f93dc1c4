import { createRequire } from 'node:module'
import HyperDHT, { type DhtAddress } from 'hyperdht'

/**
 * A stranger's PEER_HANDSHAKE messages sent straight to a seeder's DHT socket, each naming a dialler's address of
 * the stranger's choosing (hyperdht's own codecs: what any DHT node can send).
 */

const require = createRequire(import.meta.url)
const NoiseWrap = require('hyperdht/lib/noise-wrap.js') as new (
  keyPair: unknown,
  remotePublicKey: Buffer,
) => { send(payload: unknown): Buffer }
const { handshake } = require('hyperdht/lib/messages.js') as {
  handshake: {
    preencode(state: { start: number; end: number }, m: unknown): void
    encode(state: { start: number; end: number; buffer: Buffer }, m: unknown): void
  }
}
const { COMMANDS, FIREWALL } = require('hyperdht/lib/constants.js') as {
  COMMANDS: { PEER_HANDSHAKE: number }
  FIREWALL: { OPEN: number }
}
/**
 * hyperdht's modes (lib/router.js): a dialler's own message (with an address in it, the server took that address
 * for the dialler's, as if a relay had written it in, and still answered the sender), and a relay's.
 */
const MODES = { client: 0, relay: 2 } as const

interface RequestingNode {
  request(
    message: { command: number; target: Buffer; value: Buffer },
    to: DhtAddress,
    options: { retry: boolean; socket?: unknown },
  ): Promise<unknown>
}

function encodeHandshake(m: unknown): Buffer {
  const state = { start: 0, end: 0, buffer: Buffer.alloc(0) }
  handshake.preencode(state, m)
  state.buffer = Buffer.alloc(state.end)
  handshake.encode(state, m)
  return state.buffer
}

/**
 * One forged handshake to `to` naming `claimed` as the dialler, as a dialler would send it or (`as: 'relay'`) as a
 * relay passes one on, from `node`'s DHT socket (a relay's is its server socket); resolves whether it was answered
 * (a relayed one is answered through the relay: never to the sender's request).
 */
export async function forgedHandshake(
  node: HyperDHT,
  key: Buffer,
  to: DhtAddress,
  claimed: DhtAddress,
  as: keyof typeof MODES = 'client',
): Promise<boolean> {
  const noise = new NoiseWrap(HyperDHT.keyPair(), key).send({
    error: 0,
    firewall: FIREWALL.OPEN,
    holepunch: null,
    addresses4: [],
    addresses6: [],
    udx: { reusableSocket: false, id: (Math.random() * 0xffffffff) >>> 0, seq: 0 },
    secretStream: {},
    relayThrough: null,
  })
  const value = encodeHandshake({ mode: MODES[as], noise, peerAddress: claimed, relayAddress: null })
  const target = HyperDHT.hash(key)
  const socket = as === 'relay' ? node.io.serverSocket : undefined
  try {
    await (node as unknown as RequestingNode).request({ command: COMMANDS.PEER_HANDSHAKE, target, value }, to, {
      retry: false,
      ...(socket ? { socket } : {}),
    })
    return true
  } catch {
    return false
  }
}
