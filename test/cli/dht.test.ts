import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import HyperDHT from 'hyperdht'
import { MAX_DHT_WRITE_BYTES } from '../../src/core/dht/bounded-stream.js'
import { topicOf } from '../../src/core/dht/topic.js'
import { MAX_DIAL_FAILURES } from '../../src/core/download/dht-keys.js'
import { DEFAULT_LOOKUP_EVERY_MS, MIN_DHT_CONNECT_MS } from '../../src/core/download/dht-peers-options.js'
import { encodeFrame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { parsePeerId } from '../../src/core/trust/peer-id.js'
import { generateSecret, swarmKeysFromText } from '../../src/core/trust/swarm-secret.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { DHT_ARGS, dhtSeeder, dhtServeArgs, onFrameBytes, testGreeting, testnet, testnetNode } from '../helpers/dht.js'
import { sha256File, tmpDir } from '../helpers/files.js'
import { freeUdpPort, runDownload, seeded, startDaemon } from '../helpers/swarm.js'

/**
 * Issue 20 on real processes over loopback, on a private DHT (hyperdht's
 * testnet bound to 127.0.0.1, or `p2p dht-node` processes): never the public
 * bootstrap nodes. Discovery is pointed at a UDP port nobody announces on, so
 * whatever is found is found through the DHT.
 */

/** A DHT server of its own key under the file's topic, speaking our frames: the real manifest, every chunk random bytes. */
async function startDhtLiar(
  t: Cleanup,
  bootstrap: string,
  id: string,
  manifest: Buffer,
): Promise<{ lies: () => number }> {
  const liar = testnetNode(t, bootstrap)
  const keyPair = HyperDHT.keyPair()
  let lies = 0
  const server = liar.createServer({}, (socket) => {
    const decoder = new FrameDecoder({ maxHeaderBytes: 16384, maxBodyBytes: 0 })
    socket.on('error', () => undefined)
    socket.write(testGreeting())
    // In messages of at most 64 KiB, as p2pshare writes them (a longer one closes the connection: bounded-stream.ts).
    const send = (frame: Buffer): void => {
      for (let at = 0; at < frame.byteLength; at += MAX_DHT_WRITE_BYTES)
        socket.write(frame.subarray(at, at + MAX_DHT_WRITE_BYTES))
    }
    onFrameBytes(socket, (segment) => {
      for (const { header } of decoder.push(segment)) {
        if (header.type === 'manifest') send(encodeFrame({ type: 'manifest', id }, manifest))
        else {
          lies++
          send(encodeFrame({ type: 'chunk', id, index: header.index as number }, randomBytes(256 * 1024)))
        }
      }
    })
  })
  await server.listen(keyPair)
  await liar.announce(topicOf(id), keyPair, server.relayAddresses).finished()
  return { lies: () => lies }
}

describe('sharing beyond the LAN through a private DHT', () => {
  it('a downloader finds a seeder by id alone (no broadcast reaches it), byte-identical; the receipt says dht', async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t)
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    assert.equal(line.dhtTopics, 1)
    assert.equal(
      line.links[0]?.link,
      `p2p://${id}?seeder=${line.peerId}`,
      'seeding through the DHT: its key in its links',
    )
    const nobody = await freeUdpPort() // no announcer there: the LAN finds nothing
    const r = await runDownload(join(dir, 'd'), nobody, ['--id', id, '--wait', '30', ...DHT_ARGS(bootstrap)])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(r.result?.sha256, sha)
    assert.equal(await sha256File(r.result?.path as string), sha)
    const peers = r.result?.peers as Array<{
      peer: string
      via: string
      path?: string
      peerId?: string
      chunks: number
    }>
    assert.equal(peers.length, 1)
    assert.match(peers[0]!.via, /^dht/)
    assert.ok(['direct', 'holepunched'].includes(peers[0]!.path ?? ''), JSON.stringify(peers))
    assert.equal(peers[0]!.peerId, line.peerId, 'the peer reached holds the key it was dialled by')
  })

  it('a second DHT seeder on the same store (its peer ID) is refused, E_LOCKED, and the first stays reachable by its key', async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t)
    const store = join(dir, 'seed')
    const { line } = await dhtSeeder(t, store, bootstrap)
    // A second that ran and stopped withdrew the key's relay: the first was unreachable for ten minutes (a UX audit).
    const second = await runBin('p2p-serve', dhtServeArgs(store, bootstrap, ['--json']))
    assert.equal(second.code, 7, second.stderr)
    const refused = JSON.parse(second.stdout.trim().split('\n').pop()!) as { code: string; message: string }
    assert.equal(refused.code, 'E_LOCKED')
    assert.match(refused.message, /is seeded through the DHT from this store .* by process \d+/)
    const link = `p2p://${id}?seeder=${line.peerId}`
    const r = await runDownload(join(dir, 'd'), await freeUdpPort(), [link, '--wait', '20', ...DHT_ARGS(bootstrap)])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
  })

  it('a second DHT seeder of the same --identity from another store is refused, E_LOCKED, naming the identity', async (t) => {
    const bootstrap = await testnet(t)
    const { dir } = await seeded(t)
    const identity = ['--identity', join(dir, 'shared-identity.key')]
    await dhtSeeder(t, join(dir, 'seed'), bootstrap, identity)
    const other = await runBin('p2p-serve', dhtServeArgs(join(dir, 'other'), bootstrap, ['--json', ...identity]))
    assert.equal(other.code, 7, other.stderr)
    const refused = JSON.parse(other.stdout.trim().split('\n').pop()!) as { code: string; message: string }
    assert.equal(refused.code, 'E_LOCKED')
    assert.match(
      refused.message,
      /is seeded through the DHT with the identity .*shared-identity\.key .* by process \d+/,
    )
  })

  it("a seeder through the open DHT shows its files' links, naming its key, without --json too", async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id } = await seeded(t)
    const serve = startDaemon(t, 'p2p-serve', dhtServeArgs(join(dir, 'seed'), bootstrap))
    for (let waited = 0; !serve.stdout().includes('p2p://') && waited < 20_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50))
    assert.match(serve.stdout(), new RegExp(`\\n {2}p2p://${id}\\?seeder=[A-Z2-7-]+ {2}`), serve.stdout())
  })

  it('p2p-download LINK works against p2p dht-node processes; without --dht the same link finds nobody (exit 3)', async (t) => {
    const node = startDaemon(t, 'p2p', ['dht-node', '--host', '127.0.0.1', '--port', '0', '--json'])
    const { bootstrap } = (await node.firstLine) as { bootstrap: string }
    const second = startDaemon(t, 'p2p', [
      'dht-node',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--bootstrap',
      bootstrap,
      '--json',
    ])
    await second.firstLine
    const { dir, id, sha } = await seeded(t, 700_000)
    await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const nobody = await freeUdpPort()
    const lanOnly = await runDownload(join(dir, 'lan'), nobody, [`p2p://${id}`, '--wait', '1'])
    assert.equal(lanOnly.code, 3, lanOnly.stderr)
    const r = await runDownload(join(dir, 'd'), nobody, [`p2p://${id}`, '--wait', '30', ...DHT_ARGS(bootstrap)])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
    assert.equal(await node.stop(), 0, 'Ctrl-C (SIGTERM) ends a DHT node cleanly')
  })

  it("p2p dht-node --help says a node given no --bootstrap joins nobody (not the engine's public nodes)", async () => {
    const help = await runBin('p2p', ['dht-node', '--help'])
    assert.equal(help.code, 0)
    const bootstrap = help.stdout.slice(help.stdout.indexOf('--bootstrap'), help.stdout.indexOf('--host'))
    assert.match(bootstrap.replace(/\s+/g, ' '), /default: none \(a first node\)/)
    assert.doesNotMatch(bootstrap, /public/)
  })

  it('p2p dht-node reads its own config keys and environment, not a server\'s "port" and "host" (P2P_PORT, P2P_HOST)', async (t) => {
    const cwd = await tmpDir(t)
    await writeFile(join(cwd, 'p2p.config.json'), JSON.stringify({ port: 1, host: '::', dhtNodePort: 0 }))
    const node = startDaemon(t, 'p2p', ['dht-node', '--json', '--logs-dir', join(cwd, 'logs')], {
      cwd,
      env: { ...process.env, P2P_HOST: '::' },
    })
    const line = (await node.firstLine) as { host: string; port: number }
    assert.equal(line.host, '127.0.0.1', 'its own default, not the server\'s "::"')
    assert.ok(line.port !== 1 && line.port !== 49737, `its own key's any free port: ${line.port}`)
  })

  it("a private swarm's topic: a downloader without the secret finds nobody (exit 4 naming the lookup); with it, the file", async (t) => {
    const bootstrap = await testnet(t)
    const secret = generateSecret()
    const { dir, id, sha } = await seeded(t, 600_000)
    const { serve, line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--secret', secret])
    assert.equal(line.links[0]?.link, `p2p://${id}`, 'no seeder= in a private swarm (it would tie the file to its key)')
    const nobody = await freeUdpPort()
    const stranger = await runDownload(join(dir, 's'), nobody, ['--id', id, '--wait', '4', ...DHT_ARGS(bootstrap)])
    assert.equal(stranger.code, 4, stranger.stderr)
    assert.match(stranger.stderr + stranger.stdout, /lookups? of topic .* 0 peers found/)
    // Nor does the open topic hold anyone, looked up straight on the DHT: the seeder announced only the keyed one.
    const probe = testnetNode(t, bootstrap)
    let openPeers = 0
    for await (const reply of probe.lookup(topicOf(id))) openPeers += reply.peers.length
    assert.equal(openPeers, 0)
    let keyedPeers = 0
    const keys = await swarmKeysFromText(secret)
    for await (const reply of probe.lookup(topicOf(id, keys.topicKey))) keyedPeers += reply.peers.length
    assert.ok(keyedPeers > 0, 'the keyed topic holds the seeder (the check above can fail)')
    const member = await runDownload(join(dir, 'm'), nobody, [
      `p2p://${id}?secret=${encodeURIComponent(secret)}`,
      '--wait',
      '30',
      ...DHT_ARGS(bootstrap),
    ])
    assert.equal(member.code, 0, member.stderr + member.log)
    assert.equal(await sha256File(member.result?.path as string), sha)
    const wholeLog = await readFile(join(dir, 'm', 'logs', 'download.log'), 'utf8')
    assert.match(wholeLog, /secret=<secret>/, 'the link is logged')
    assert.ok(!wholeLog.includes(secret.slice(5)), 'and its secret is not (an attacker pass found it there, twice)')
    // A stranger who knows the seeder's peer ID (it is no secret) dials it straight and asks for the manifest
    // without the proof: it gets nothing, and the seeder counts the refusal.
    const seederKey = parsePeerId(line.peerId)
    const socket = probe.connect(seederKey)
    socket.on('error', () => undefined)
    let received = 0
    socket.on('data', (d: Buffer) => {
      received += d.byteLength
    })
    socket.write(Buffer.alloc(32)) // a "proof" of zeros
    socket.write(encodeFrame({ type: 'manifest', id }))
    await new Promise<void>((resolve) => socket.once('close', () => resolve()))
    assert.equal(received, 0, 'no byte of the swarm reached the stranger')
    assert.equal(await serve.stop(), 0)
    const stopped = JSON.parse(serve.stdout().trim().split('\n').pop()!) as { stats: { refusedAuth: number } }
    assert.ok(stopped.stats.refusedAuth >= 1, JSON.stringify(stopped.stats))
  })

  it('a hostile peer announced under the topic serving wrong bytes is banned and counted; the file completes from the honest one', async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t, 4_000_000)
    const entry = join(dir, 'seed', 'chunks', 'f.bin')
    const manifest = await readFile(join(entry, 'manifest.json'))
    const liar = await startDhtLiar(t, bootstrap, id, manifest)
    const nobody = await freeUdpPort()
    // The honest seeder joins only once the liar has had its chance: the first downloads go to the liar.
    const d = join(dir, 'd')
    const download = runDownload(d, nobody, ['--id', id, '--wait', '90', ...DHT_ARGS(bootstrap)], 180_000)
    // A hang bound from the product's own settings: a dial that times out is retried, up to MAX_DIAL_FAILURES
    // times (with both cores busy the first dial took 15 s in 2 of 4 runs, and the 40 s bound this replaced
    // was overrun once), after a lookup that comes at most every DEFAULT_LOOKUP_EVERY_MS.
    const bound = MAX_DIAL_FAILURES * (MIN_DHT_CONNECT_MS + 5_000) + DEFAULT_LOOKUP_EVERY_MS
    const deadline = Date.now() + bound
    while (liar.lies() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const log = async () => (await readFile(join(d, 'logs', 'download.log'), 'utf8').catch(() => '')).slice(-3000)
    assert.ok(liar.lies() > 0, `the liar was asked within ${bound / 1000} s; the download's log:\n${await log()}`)
    await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const r = await download
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
    const peers = r.result?.peers as Array<{ peerId?: string; banned?: string; chunks: number }>
    const liarReport = peers.find((p) => p.banned)
    assert.ok(liarReport, `the liar is banned: ${JSON.stringify(peers)}`)
    assert.equal(liarReport.chunks, 0, 'none of its bytes were kept')
    assert.ok(peers.some((p) => !p.banned && p.chunks > 0))
  })

  it('a seeder killed with its announcement still on the DHT: the download ends within --wait, not a hang', async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id } = await seeded(t, 1_000_000)
    const { serve } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    serve.kill('SIGKILL') // no unannounce: the DHT keeps offering its key
    await serve.stop()
    const nobody = await freeUdpPort()
    // Nobody else: exit 4, naming the lookups.
    const alone = await runDownload(join(dir, 'a'), nobody, ['--id', id, '--wait', '6', ...DHT_ARGS(bootstrap)], 90_000)
    assert.equal(alone.code, 4, alone.stderr + alone.log)
    assert.match(alone.stderr, /1 peer found/)
    // A liar gives the manifest and is banned: the dead seeder is then the only "live" peer of every chunk,
    // and must be dropped for the download to end (it ran on past --wait, for good, before).
    await startDhtLiar(t, bootstrap, id, await readFile(join(dir, 'seed', 'chunks', 'f.bin', 'manifest.json')))
    const started = Date.now()
    const r = await runDownload(join(dir, 'd'), nobody, ['--id', id, '--wait', '6', ...DHT_ARGS(bootstrap)], 90_000)
    assert.ok(r.code !== 0 && r.code !== null, `exit ${r.code}: ${r.stderr}${r.log}`)
    assert.ok(Date.now() - started < 60_000, `ended after ${Date.now() - started} ms`)
  })
})
