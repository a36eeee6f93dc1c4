import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import HyperDHT from 'hyperdht'
import createTestnet from 'hyperdht/testnet.js'
import { CHALLENGE_BYTES, DHT_HELLO } from '../../src/core/dht/greeting.js'
import { topicOf } from '../../src/core/dht/topic.js'
import { encodeFrame } from '../../src/core/transfer/framing.js'
import { errorHeader } from '../../src/core/transfer/messages.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { sha256File } from './files.js'
import { freeUdpPort, runDownload, startDaemon, storeArgs } from './swarm.js'

/** A private DHT on loopback for the --dht tests (never the public bootstrap nodes). */

export const DHT_ARGS = (bootstrap: string): string[] => ['--dht', '--bootstrap', bootstrap, '--dht-host', '127.0.0.1']

/** hyperdht's testnet of three nodes on 127.0.0.1; its bootstrap list. */
export async function testnet(t: Cleanup): Promise<string> {
  return (await testnetNodes(t)).bootstrap
}

/**
 * The same, with its nodes (a seeder announces its key to them: they relay handshakes to it), on 127.0.0.1 or, for a
 * relay whose own sessions must not count as the honest peers' (127.0.0.1), on another loopback `host`.
 */
export async function testnetNodes(t: Cleanup, host = '127.0.0.1'): Promise<{ bootstrap: string; nodes: HyperDHT[] }> {
  // hyperdht reads port 0 as its fixed default port (49737): a range of [0, 0] is any free one.
  const port = [0, 0] as unknown as number
  if (host === '127.0.0.1') {
    const net = await createTestnet(3, { host, port })
    onCleanup(t, () => net.destroy())
    return { bootstrap: net.bootstrap.map((b) => `${b.host}:${b.port}`).join(','), nodes: net.nodes }
  }
  // hyperdht's testnet binds any other host's nodes to 0.0.0.0: these are bound to `host` alone, as its are.
  const nodes: HyperDHT[] = []
  onCleanup(t, async () => {
    for (const node of nodes) await node.destroy({ force: true })
  })
  const first = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap: [], host, port })
  nodes.push(first)
  await first.fullyBootstrapped()
  const bootstrap = `${host}:${first.address().port}`
  while (nodes.length < 3) {
    const node = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap: [bootstrap], host })
    nodes.push(node)
    await node.fullyBootstrapped()
  }
  return { bootstrap, nodes }
}

/** A DHT node of the test's own (a stranger's, a probe) on the testnet `bootstrap`, on loopback: never the public one. */
export function testnetNode(t: Cleanup, bootstrap: string, host = '127.0.0.1'): HyperDHT {
  const node = new HyperDHT({ bootstrap: bootstrap.split(','), host, port: [0, 0] as unknown as number })
  onCleanup(t, () => node.destroy({ force: true }))
  return node
}

/** p2p-serve --dht's arguments on the store in `dir`, on loopback, any free port (and `extra`: `--json`, …). */
export const dhtServeArgs = (dir: string, bootstrap: string, extra: string[] = []): string[] => [
  ...['--host', '127.0.0.1', '--port', '0'],
  ...storeArgs(dir),
  ...DHT_ARGS(bootstrap),
  ...extra,
]

/** p2p-serve --dht on the store in `dir`; resolves once its topics are announced (its first --json line). */
export async function dhtSeeder(t: Cleanup, dir: string, bootstrap: string, extra: string[] = []) {
  const serve = startDaemon(t, 'p2p-serve', dhtServeArgs(dir, bootstrap, ['--json', ...extra]))
  const line = (await serve.firstLine) as { dhtTopics: number; peerId: string; links: Array<{ link: string }> }
  return { serve, line }
}

/** What a hostile peer sends as one message in the tests: far over what any p2pshare peer sends, well under 16 MiB. */
export const OVERSIZED_MESSAGE_BYTES = 4 << 20

/** A DHT node of the stranger's on the test's own loopback DHT (never the public one), at `host` (127.0.0.1). */
export async function attackerNode(t: Cleanup, bootstrap: string, host?: string): Promise<HyperDHT> {
  const node = testnetNode(t, bootstrap, host)
  await node.ready()
  return node
}

/**
 * `count` live servers of a stranger's, each announced under the file's open topic: they accept, then say nothing
 * (`mute`), greet as p2pshare does and then nothing (`greets`), or send one message longer than any of p2pshare's
 * (`oversized`: OVERSIZED_MESSAGE_BYTES, then nothing), or greet and then send that (`greets-oversized`), or greet and answer every request with an undecodable frame
 * (`greets-garbage`), or with E_NOT_FOUND (`greets-not-found`: they have no such file).
 */
export async function strangerServers(
  t: Cleanup,
  bootstrap: string,
  id: string,
  count: number,
  mode: 'mute' | 'greets' | 'oversized' | 'greets-oversized' | 'greets-garbage' | 'greets-not-found',
): Promise<{ dialled: () => number; tookMs: number; peerIds: string[] }> {
  const attacker = await attackerNode(t, bootstrap)
  const held: Array<{ destroy(): void }> = []
  onCleanup(t, () => {
    for (const socket of held) socket.destroy()
  })
  let dialled = 0
  const peerIds: string[] = []
  const started = performance.now()
  for (let i = 0; i < count; i += 50)
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async () => {
        const keyPair = HyperDHT.keyPair()
        const server = attacker.createServer({}, (socket) => {
          held.push(socket)
          socket.on('error', () => undefined)
          if (mode.startsWith('greets')) socket.write(testGreeting()) // then nothing: a session that never answers
          if (mode.endsWith('oversized')) socket.write(Buffer.alloc(OVERSIZED_MESSAGE_BYTES, 1))
          // Every request answered with a frame that cannot be decoded (a length over any limit, then junk).
          if (mode === 'greets-garbage')
            onFrameBytes(socket, () =>
              socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(512)])),
            )
          if (mode === 'greets-not-found')
            onFrameBytes(socket, () => socket.write(encodeFrame(errorHeader('E_NOT_FOUND', 'no such file here'))))
          dialled++
        })
        await server.listen(keyPair)
        await attacker.announce(topicOf(id), keyPair, server.relayAddresses).finished()
        peerIds.push(formatPeerId(keyPair.publicKey))
      }),
    )
  return { dialled: () => dialled, tookMs: performance.now() - started, peerIds }
}

/** p2p-download through the DHT only (a UDP port nobody announces on) into `dir`: it must succeed, byte-identical. */
export async function downloadThroughDht(dir: string, bootstrap: string, args: string[], sha: string) {
  const r = await runDownload(dir, await freeUdpPort(), [...args, ...DHT_ARGS(bootstrap)])
  assert.equal(r.code, 0, r.stderr + r.log)
  assert.equal(await sha256File(r.result?.path as string), sha)
  return r
}

/**
 * A p2pshare server's greeting as a test's own server sends it (protocol §6.4): the hello and a challenge. Our
 * diallers return the challenge ahead of their first frame; these servers take frames without checking it.
 */
export function testGreeting(): Buffer {
  return Buffer.concat([DHT_HELLO, randomBytes(CHALLENGE_BYTES)])
}

/** Calls `handle` with what a dialler sends after returning the greeting's challenge (the bytes of its frames). */
export function onFrameBytes(socket: NodeJS.EventEmitter, handle: (bytes: Buffer) => void): void {
  let echo = CHALLENGE_BYTES
  socket.on('data', (data: Buffer) => {
    const skipped = Math.min(echo, data.byteLength)
    echo -= skipped
    if (data.byteLength > skipped) handle(data.subarray(skipped))
  })
}
