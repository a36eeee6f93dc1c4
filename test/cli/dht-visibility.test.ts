import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import HyperDHT from 'hyperdht'
import { topicOf } from '../../src/core/dht/topic.js'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { DHT_ARGS, dhtSeeder, testnet, testnetNode } from '../helpers/dht.js'
import { tmpDir } from '../helpers/files.js'
import { freeUdpPort, seeded, startDaemon } from '../helpers/swarm.js'

/**
 * Issue 20's visibility on a private DHT over loopback: `p2p-listen --dht
 * --id ID…` lists, per file, the peers the DHT offers and how each was
 * reached (or why not); `p2p-announce --dht` refuses, pointing at
 * `p2p-serve --dht`.
 */

interface Surveyed {
  id: string
  replies: number
  peers: Array<{ peerId: string; reached: boolean; path?: string; code?: string }>
}

/** p2p-listen --dht --json on a UDP port nobody announces on; resolves with its first survey round (that `until` accepts). */
async function survey(
  t: Cleanup,
  bootstrap: string,
  ids: string[],
  extra: string[] = [],
  until: (files: Surveyed[]) => boolean = () => true,
  /** Instead of failing when no round was accepted in time: called with the rounds seen (the test then says why it skips). */
  otherwise?: (rounds: Surveyed[][]) => void,
): Promise<Surveyed[] & { stop?: () => Promise<number | null> }> {
  const udp = await freeUdpPort()
  const dir = await tmpDir(t)
  const listen = startDaemon(t, 'p2p-listen', [
    '--udp-port',
    String(udp),
    '--broadcast',
    '127.255.255.255',
    '--dictionary',
    join(dir, 'dictionary.json'),
    '--logs-dir',
    join(dir, 'logs'),
    '--json',
    ...DHT_ARGS(bootstrap),
    ...ids.flatMap((id) => ['--id', id]),
    ...extra,
  ])
  // A bound on a hang, not a speed: on a loaded machine rounds whose dials time out (E_CLOSED) can go on for a
  // minute and more (82 s measured with both cores busy) before one runs to its end.
  const deadline = Date.now() + 240_000
  for (;;) {
    const rounds = listen
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{"ok":true,"dht":'))
      .map((l) => (JSON.parse(l) as { dht: Surveyed[] }).dht)
    const round = rounds.find(until)
    if (round) return Object.assign(round, { stop: listen.stop })
    if (otherwise && listen.child.exitCode === null && Date.now() > deadline) {
      otherwise(rounds)
      return []
    }
    if (listen.child.exitCode !== null || Date.now() > deadline)
      assert.fail(`no survey line (exit ${listen.child.exitCode}): ${listen.stderr()}`)
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        listen.child.stdout!.off('data', done)
        resolve()
      }
      const timer = setTimeout(done, 1000)
      listen.child.stdout!.on('data', done)
    })
  }
}

/**
 * A round where every dial ran to its end (reached, or refused by the other side): on a loaded machine a dial
 * of a node that just joined the testnet may time out instead (E_CLOSED), and the next round dials again.
 */
const dialledToTheEnd = (files: Surveyed[]): boolean => files.every((f) => f.peers.every((p) => p.code !== 'E_CLOSED'))

describe('who the DHT offers, and how each is reached', () => {
  it('p2p-listen --dht --id lists the seeder of a file with its path, and nobody for a file no one seeds', async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id } = await seeded(t, 300_000)
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const nobody = 'ab'.repeat(32)
    const files = await survey(t, bootstrap, [id, nobody], [], dialledToTheEnd)
    assert.deepEqual(
      files.map((f) => f.id),
      [id, nobody],
    )
    const [held, unheld] = files as [Surveyed, Surveyed]
    assert.equal(held.peers.length, 1, JSON.stringify(held))
    assert.equal(held.peers[0]!.peerId, line.peerId)
    assert.equal(held.peers[0]!.reached, true)
    assert.ok(['direct', 'holepunched'].includes(held.peers[0]!.path ?? ''), JSON.stringify(held))
    assert.ok(held.replies > 0)
    assert.deepEqual(unheld.peers, [])
    const stopping = Date.now()
    assert.equal(await files.stop?.(), 0, 'Ctrl-C (SIGTERM) ends it cleanly')
    // Without the fix a stop waited for the slowest dial (15 s); 10 s leaves a loaded machine room.
    assert.ok(Date.now() - stopping < 10_000, `stopped after ${Date.now() - stopping} ms`)
  })

  it("a private swarm's seeder: invisible without the secret, reached with it", async (t) => {
    const bootstrap = await testnet(t)
    const secret = generateSecret()
    const { dir, id } = await seeded(t, 300_000)
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--secret', secret])
    const stranger = await survey(t, bootstrap, [id])
    assert.deepEqual(stranger[0]!.peers, [])
    const member = await survey(t, bootstrap, [id], ['--secret', secret], dialledToTheEnd)
    assert.deepEqual(
      member[0]!.peers.map((p) => [p.peerId, p.reached]),
      [[line.peerId, true]],
    )
  })

  it('a key announced under the topic that never greets as a p2pshare peer is listed as not reached (E_AUTH)', async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id } = await seeded(t, 300_000)
    await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const other = testnetNode(t, bootstrap)
    await other.fullyBootstrapped() // its own address known (dialled at once, a fresh node's connection times out)
    const keyPair = HyperDHT.keyPair()
    const server = other.createServer({}, (socket) => {
      socket.on('error', () => undefined)
      socket.on('data', () => undefined)
      socket.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')) // another program on that key
    })
    await server.listen(keyPair)
    await other.announce(topicOf(id), keyPair, server.relayAddresses).finished()
    // The stranger is a DHT node inside this test process; on some runs every dial of it times out (E_CLOSED,
    // round after round, seen on a loaded machine), and then what this test is about cannot be seen: say so.
    let unseen: string | undefined
    const files = await survey(t, bootstrap, [id], [], dialledToTheEnd, (rounds) => {
      unseen = `the stranger's node was never reached in ${rounds.length} round(s) (every dial E_CLOSED)`
    })
    if (unseen !== undefined) return t.skip(unseen)
    const peers = files[0]!.peers
    assert.equal(peers.length, 2, JSON.stringify(peers))
    const stranger = peers.find((p) => !p.reached)
    assert.equal(stranger?.code, 'E_AUTH', JSON.stringify(peers))
    assert.equal(peers.filter((p) => p.reached).length, 1)
  })

  it('p2p-announce --dht refuses (exit 2), naming p2p-serve --dht; p2p-listen --dht without --id too', async (t) => {
    const dir = await tmpDir(t)
    const announce = await runBin('p2p-announce', ['--dht', '--chunks-dir', join(dir, 'chunks')])
    assert.equal(announce.code, 2)
    assert.match(announce.stderr, /p2p-serve --dht/)
    const listen = await runBin('p2p-listen', ['--dht', '--dictionary', join(dir, 'd.json')])
    assert.equal(listen.code, 2)
    assert.match(listen.stderr, /--id/)
  })
})
