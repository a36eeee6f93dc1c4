import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Announcer } from '../../src/core/discovery/announcer.js'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { PeerDirectory } from '../../src/core/download/peers.js'
import { silentLogger } from '../../src/core/log.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { craftAnnouncement, startStranger } from '../helpers/stranger.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

/**
 * Finding 4 of issue 14 (FAULTS 39) at the library level, with real sockets:
 * announced metadata is a claim per peer, never a fact about the id.
 */

const STRANGER_FILE = 'e'.repeat(64)

/** Split `file` into a fresh store in `dir` and announce it (TCP port 5001, every 200 ms). */
async function honestSeeder(
  t: Cleanup,
  dir: string,
  udp: number,
  file: string,
): Promise<{ id: string; chunks: number; size: number }> {
  const store = await storeIn(join(dir, 'chunks'))
  const { id, chunks, size } = await splitFile(file, { store, chunkSize: 4096 })
  const announcer = new Announcer({ store, udpPort: udp, tcpPort: 5001, broadcast: [BROADCAST], intervalMs: 200 })
  onCleanup(t, () => announcer.stop())
  await announcer.start()
  return { id, chunks, size }
}

async function storeIn(dir: string): Promise<ChunkStore> {
  const store = new ChunkStore(dir)
  await store.init()
  return store
}

async function directory(t: Cleanup, dir: string, udp: number): Promise<PeerDirectory> {
  const listener = new DiscoveryListener({ udpPort: udp, broadcast: [BROADCAST], staleAfterMs: 10_000 })
  const d = new PeerDirectory(listener, join(dir, 'no-dictionary.json'), 10_000, silentLogger())
  onCleanup(t, () => d.stop())
  await d.start()
  return d
}

async function until(d: PeerDirectory, check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline)
      assert.fail(
        `${what} not within ${ms} ms: ${JSON.stringify(d.files().map((f) => [f.id.slice(0, 8), f.peers.map((p) => [p.address, p.name, p.chunks])]))}`,
      )
    await d.waitForChange(100)
  }
}

describe('claims per peer (real listener on loopback)', () => {
  for (const strangerFirst of [true, false]) {
    it(`a stranger who gives the honest id another name and his own file the wanted name makes the name ambiguous (${strangerFirst ? 'stranger speaks first' : 'honest seeder speaks first'})`, async (t) => {
      const dir = await tmpDir(t)
      const udp = await freeUdpPort()
      const d = await directory(t, dir, udp)
      const stranger = await startStranger(t, udp)
      const lie = (honestId: string, size: number, chunks: number): string =>
        craftAnnouncement('stranger1', 6666, [
          { id: honestId, name: 'other.bin', size, chunks },
          { id: STRANGER_FILE, name: 'wanted.bin', size: 1000, chunks: 1 },
        ])
      const wanted = join(dir, 'wanted.bin')
      await randomFile(wanted, 40_000)
      let honest: { id: string; chunks: number; size: number }
      if (strangerFirst) {
        // The id is public once announced; here he has it (and lies) before the seeder starts.
        const peek = await splitFile(wanted, { store: await storeIn(join(dir, 'peek')), chunkSize: 4096 })
        stranger.repeat(lie(peek.id, peek.size, peek.chunks), 100)
        await until(d, () => d.named('other.bin').length === 1, 'the lie')
        honest = await honestSeeder(t, join(dir, 'seed'), udp, wanted)
      } else {
        honest = await honestSeeder(t, join(dir, 'seed'), udp, wanted)
        await until(d, () => d.named('wanted.bin').length === 1, 'the honest seeder')
        stranger.repeat(lie(honest.id, honest.size, honest.chunks), 100)
      }
      await until(d, () => d.named('wanted.bin').length === 2, 'two ids for the wanted name')
      assert.deepEqual(
        d
          .named('wanted.bin')
          .map((f) => f.id)
          .sort(),
        [honest.id, STRANGER_FILE].sort(),
      )
      // What a wait for the name looks at on each change, without the summaries: the same ids.
      for (const name of ['wanted.bin', 'other.bin', 'absent.bin'])
        assert.deepEqual(
          d.namedIds(name).sort(),
          d
            .named(name)
            .map((f) => f.id)
            .sort(),
          name,
        )
      assert.deepEqual(
        d
          .peers(honest.id)
          .map((p) => `${p.address}:${p.port}`)
          .sort(),
        ['127.0.0.1:5001', '127.0.0.2:6666'],
        'every claimant of the id is offered; the manifest decides',
      )
      assert.deepEqual(
        d.named('other.bin').map((f) => f.id),
        [honest.id],
      )
    })
  }

  it('the same datagram from two addresses (a burst over IPv4 and IPv6) is a claim at each, and a changed one is heard', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const d = await directory(t, dir, udp)
    const [one, two] = [await startStranger(t, udp, '127.0.0.2'), await startStranger(t, udp, '127.0.0.3')]
    const id = 'c'.repeat(64)
    const announce = (have: string): string =>
      craftAnnouncement('stranger1', 7000, [{ id, name: 'same.bin', size: 4 * 4096, chunks: 4, have, from: 0 }])
    // Decoded once (listener.ts keeps recent decodes by their bytes), merged for each address.
    for (const stranger of [one, two]) await stranger.send(announce('gA=='))
    await until(d, () => d.peers(id).length === 2, 'both addresses')
    const held = () => d.peers(id).map((p) => `${p.address} ${p.have.count()}`)
    assert.deepEqual(held().sort(), ['127.0.0.2 1', '127.0.0.3 1'])
    await two.send(announce('8A=='))
    await until(d, () => held().includes('127.0.0.3 4'), 'the changed have-set')
    await one.send(announce('gA=='))
    await two.send(announce('gA=='))
    await until(d, () => held().includes('127.0.0.3 1'), 'the first have-set again, from the address that changed')
    assert.deepEqual(held().sort(), ['127.0.0.2 1', '127.0.0.3 1'])
  })

  it('a stranger announcing the honest id with one chunk more, first, hides no honest peer of it', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const d = await directory(t, dir, udp)
    const stranger = await startStranger(t, udp)
    await randomFile(join(dir, 'x.bin'), 40_000)
    const peek = await splitFile(join(dir, 'x.bin'), { store: await storeIn(join(dir, 'peek')), chunkSize: 4096 })
    const chunks = peek.chunks
    stranger.repeat(
      craftAnnouncement('stranger1', 6666, [
        { id: peek.id, name: 'x.bin', size: peek.size + 4096, chunks: chunks + 1 },
      ]),
      100,
    )
    await until(d, () => d.peers(peek.id).length === 1, 'the lie')
    const honest = await honestSeeder(t, join(dir, 'seed'), udp, join(dir, 'x.bin'))
    assert.equal(honest.id, peek.id)
    await until(d, () => d.peers(peek.id).length === 2, 'the honest seeder beside the liar')
    const byPort = new Map(d.peers(peek.id).map((p) => [p.port, p.have.length]))
    assert.deepEqual(
      [byPort.get(5001), byPort.get(6666)],
      [chunks, chunks + 1],
      'each with its own have-set: the scheduler keeps the one matching the manifest',
    )
    assert.equal(d.named('x.bin').length, 1, 'one id: not ambiguous')
  })
})
