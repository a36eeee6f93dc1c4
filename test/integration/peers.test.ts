import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { DOWNLOAD_DICTIONARY_MAX_BYTES } from '../../src/core/download/dictionary-file-claims.js'
import { createPeerDirectory, PeerDirectory, type PeerDirectoryOptions } from '../../src/core/download/peers.js'
import { waitForQuiet } from '../../src/core/download/quiet.js'
import { silentLogger } from '../../src/core/log.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { fakeAnnouncer, fakeId } from '../helpers/fake-announcer.js'
import { tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

async function directory(t: Cleanup, udp: number): Promise<PeerDirectory> {
  const dir = await tmpDir(t)
  const listener = new DiscoveryListener({ udpPort: udp, broadcast: [BROADCAST], staleAfterMs: 60_000 })
  const peers = new PeerDirectory(listener, join(dir, 'no-dictionary.json'), 60_000, silentLogger())
  await peers.start()
  onCleanup(t, () => peers.stop())
  return peers
}

const sameNamed = (peers: PeerDirectory) =>
  peers
    .named('same.bin')
    .map((f) => f.id)
    .sort()

/** A directory that knows one "same.bin" (from a scripted peer), and a quiet-wait on that name started just now. */
async function oneKnown(t: Cleanup, quietMs: number) {
  const udp = await freeUdpPort()
  const peers = await directory(t, udp)
  const fake = await fakeAnnouncer(t, udp)
  await fake.announce('peer-aaaa', 7001, [{ id: fakeId(1), name: 'same.bin', size: 10 }])
  while (peers.named('same.bin').length === 0) await peers.waitForChange(1000)
  const started = performance.now()
  const settled = waitForQuiet(peers, () => sameNamed(peers), { quietMs, since: started, deadline: started + 30_000 })
  return { udp, peers, fake, started, settled }
}

describe('PeerDirectory: waiting for the answers about a name (real listener, loopback)', () => {
  it('collects a second file of the name that arrives after unrelated changes, and decides only when no new one came for the quiet interval', async (t) => {
    const { peers, fake, settled } = await oneKnown(t, 2000)
    for (let i = 0; i < 5; i++)
      await fake.announce('peer-cccc', 7003, [{ id: fakeId(100 + i), name: `other-${i}`, size: 10 }]) // unrelated changes
    await fake.announce('peer-bbbb', 7002, [{ id: fakeId(2), name: 'same.bin', size: 20 }])
    const sentSecond = performance.now()
    await settled
    assert.deepEqual(sameNamed(peers), [fakeId(1), fakeId(2)])
    assert.ok(performance.now() - sentSecond >= 2000 - 1, 'the quiet interval restarted at the new id')
  })

  it('a process stalled past the quiet interval still reads the answer that arrived meanwhile before deciding', async (t) => {
    const { udp, peers, started, settled } = await oneKnown(t, 100)
    // While this process is blocked (no event loop turn), another sends the second answer; the quiet timer is overdue when it wakes.
    const sender = `
      import { createSocket } from 'node:dgram'
      import { Bitfield } from ${JSON.stringify(new URL('../../src/core/bitfield.js', import.meta.url).href)}
      import { encodeAnnouncements } from ${JSON.stringify(new URL('../../src/core/discovery/announcement-encode.js', import.meta.url).href)}
      const s = createSocket('udp4')
      s.bind(0, () => { s.setBroadcast(true); s.send(encodeAnnouncements('peer-bbbb', 7002, [{ id: ${JSON.stringify(fakeId(2))}, name: 'same.bin', size: 20, have: Bitfield.full(1) }])[0], ${udp}, ${JSON.stringify(BROADCAST)}, () => s.close()) })`
    // Blocked in the check phase (as after a long task): the next loop turn runs overdue timers before it polls the socket.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        execFileSync(process.execPath, ['--input-type=module', '-e', sender])
        while (performance.now() - started < 300) {
          /* blocked past the quiet interval */
        }
        resolve()
      }),
    )
    await settled
    assert.deepEqual(sameNamed(peers), [fakeId(1), fakeId(2)], 'the answer in the socket buffer counted')
  })

  it('waitForChange ends at the next change, at the timeout, or on abort', async (t) => {
    const udp = await freeUdpPort()
    const peers = await directory(t, udp)
    const fake = await fakeAnnouncer(t, udp)
    const changed = peers.waitForChange(60_000)
    await fake.announce('peer-aaaa', 7001, [{ id: fakeId(1), name: 'x', size: 1 }])
    await changed
    const t0 = performance.now()
    await peers.waitForChange(50)
    assert.ok(performance.now() - t0 >= 49)
    const abort = new AbortController()
    const aborted = peers.waitForChange(60_000, abort.signal)
    abort.abort()
    await aborted
    assert.equal(peers.listenerCount('change'), 0, 'no listener left behind')
  })
})

const newPeerId = (): string => formatPeerId(NoiseSecretStream.keyPair().publicKey)

/** A download's directory by the name "same.bin" (started, stopped after the test), reading `path`. */
async function wantingSameBin(
  t: Cleanup,
  path: string,
  more: Pick<PeerDirectoryOptions, 'selfPeerId' | 'heeded'> = {},
): Promise<{ udp: number; peers: PeerDirectory }> {
  const udp = await freeUdpPort()
  const peers = createPeerDirectory({
    udpPort: udp,
    broadcast: [BROADCAST],
    staleAfterMs: 60_000,
    dictionaryPath: path,
    want: { name: 'same.bin' },
    ...more,
  })
  await peers.start()
  onCleanup(t, () => peers.stop())
  return { udp, peers }
}

describe('PeerDirectory of a download: only the claims of what it wants (real listener, loopback)', () => {
  it("by name: keeps the name's claims and its id's under another name, not a flood of other files (heard or read from the file)", async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, 'dictionary.json')
    const now = new Date().toISOString()
    const filed = (name: string, port: number) => ({
      peer: `f${port}`,
      address: '127.0.0.9',
      port,
      have: 'all',
      lastSeen: now,
      name,
      size: 10,
      chunks: 1,
    })
    await writeFile(
      path,
      JSON.stringify({
        version: 2,
        updatedAt: now,
        files: {
          [fakeId(1)]: { name: 'same.bin', size: 10, chunks: 1, disputed: false, peers: [filed('same.bin', 7101)] },
          [fakeId(900)]: { name: 'pad.bin', size: 10, chunks: 1, disputed: false, peers: [filed('pad.bin', 7102)] },
        },
      }),
    )
    const { udp, peers } = await wantingSameBin(t, path)
    const fake = await fakeAnnouncer(t, udp)
    const flood = Array.from({ length: 8 }, (_, i) => ({ id: fakeId(200 + i), name: `other-${i}.bin`, size: 10 }))
    for (let round = 0; round < 25; round++)
      await fake.announce(`peer-${String(round).padStart(4, '0')}`, 7200 + round, flood)
    await fake.announce('peer-aaaa', 7001, [{ id: fakeId(1), name: 'same.bin', size: 10 }, ...flood])
    await fake.announce('peer-bbbb', 7002, [{ id: fakeId(1), name: 'renamed.bin', size: 10 }, ...flood])
    const deadline = Date.now() + 10_000
    while (peers.peers(fakeId(1)).length < 3 && Date.now() < deadline) await peers.waitForChange(200)
    assert.deepEqual(
      peers.files().map((f) => f.id),
      [fakeId(1)],
      'no other file kept',
    )
    assert.deepEqual(
      peers
        .peers(fakeId(1))
        .map((p) => p.port)
        .sort(),
      [7001, 7002, 7101],
      "the name's peer, its id under another name, and the file's",
    )
    assert.ok(peers.heardAnyone())
  })

  it('by name with an allow-list: the unlisted peers heard claiming the name are told, once each whatever their spelling, not those read from the file, nor our own, nor a text that is no peer ID', async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, 'dictionary.json')
    const [ourselves, stranger, filed] = [newPeerId(), newPeerId(), newPeerId()]
    const old = new Date(Date.now() - 86_400_000).toISOString()
    const stale = { peer: filed, address: '127.0.0.9', port: 7101, have: 'all', lastSeen: old }
    const file = { name: 'same.bin', size: 10, chunks: 1, disputed: false, peers: [{ ...stale, name: 'same.bin' }] }
    await writeFile(path, JSON.stringify({ version: 2, updatedAt: old, files: { [fakeId(1)]: file } }))
    const { udp, peers } = await wantingSameBin(t, path, { selfPeerId: ourselves, heeded: () => false })
    const fake = await fakeAnnouncer(t, udp)
    await fake.announce(ourselves, 7001, [{ id: fakeId(1), name: 'same.bin', size: 10 }])
    await fake.announce('not-a-peer-id', 7004, [{ id: fakeId(1), name: 'same.bin', size: 10 }])
    await fake.announce(stranger.toLowerCase(), 7003, [{ id: fakeId(2), name: 'same.bin', size: 10 }])
    await fake.announce(stranger, 7002, [{ id: fakeId(2), name: 'same.bin', size: 10 }])
    await fake.announce(newPeerId(), 7005, [{ id: fakeId(3), name: 'other.bin', size: 10 }])
    const deadline = Date.now() + 10_000
    while (peers.unlistedNamers().peers.length === 0 && Date.now() < deadline) await peers.waitForChange(200)
    await new Promise((resolve) => setTimeout(resolve, 300)) // the others' datagrams, sent before, heard by now
    assert.deepEqual(peers.unlistedNamers(), { peers: [stranger], more: false })
    assert.deepEqual(peers.named('same.bin'), [], 'no unlisted claim kept')
  })

  it('by id: a flood of other files leaves its dictionary empty, and it still says it heard someone', async (t) => {
    const udp = await freeUdpPort()
    const peers = createPeerDirectory({
      udpPort: udp,
      broadcast: [BROADCAST],
      staleAfterMs: 60_000,
      want: { id: fakeId(1) },
    })
    await peers.start()
    onCleanup(t, () => peers.stop())
    assert.ok(!peers.heardAnyone(), 'nobody yet')
    const fake = await fakeAnnouncer(t, udp)
    const flood = Array.from({ length: 8 }, (_, i) => ({ id: fakeId(300 + i), name: `other-${i}.bin`, size: 10 }))
    for (let round = 0; round < 10; round++)
      await fake.announce(`peer-${String(round).padStart(4, '0')}`, 7300 + round, flood)
    const deadline = Date.now() + 10_000
    while (!peers.heardAnyone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.ok(peers.heardAnyone(), 'heard, though nothing it wants')
    assert.deepEqual(peers.files(), [])
  })
})

describe('PeerDirectory: the content dictionary file', () => {
  /** A version-2 dictionary file naming `name` under one id, padded to about `bytes` with other files' claims. */
  const dictionaryText = (name: string, bytes: number): string => {
    const now = new Date().toISOString()
    const claim = (chunks: number, have: string) => ({
      peer: 'p1',
      address: '127.0.0.1',
      port: 7001,
      have,
      lastSeen: now,
      name,
      size: chunks * 1024 * 1024,
      chunks,
    })
    const files: Record<string, unknown> = {
      [fakeId(1)]: { name, size: 8 * 1024 * 1024, chunks: 8, disputed: false, peers: [claim(8, 'all')] },
    }
    const padChunks = 8 * 1024 * 1024 // a 1 MiB have-set: ~1.4 MB of text each
    for (let i = 2; JSON.stringify(files).length < bytes; i++)
      files[fakeId(i)] = {
        name: `pad${i}.bin`,
        size: padChunks * 1024 * 1024,
        chunks: padChunks,
        disputed: false,
        peers: [{ ...claim(padChunks, Buffer.alloc(padChunks / 8, 0x0f).toString('base64')), name: `pad${i}.bin` }],
      }
    return JSON.stringify({ version: 2, updatedAt: now, files })
  }

  it('reads a file of ordinary size, and not one past DOWNLOAD_DICTIONARY_MAX_BYTES (live discovery only then)', async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, 'dictionary.json')
    await writeFile(path, dictionaryText('small.bin', 0))
    const listener = new DiscoveryListener({
      udpPort: await freeUdpPort(),
      broadcast: [BROADCAST],
      staleAfterMs: 60_000,
    })
    const peers = new PeerDirectory(listener, path, 60_000, silentLogger())
    await peers.start()
    onCleanup(t, () => peers.stop())
    assert.deepEqual(
      peers.named('small.bin').map((f) => f.id),
      [fakeId(1)],
      'read',
    )
    const large = dictionaryText('large.bin', DOWNLOAD_DICTIONARY_MAX_BYTES + 1)
    assert.ok(Buffer.byteLength(large) > DOWNLOAD_DICTIONARY_MAX_BYTES)
    await writeFile(path, large)
    const deadline = Date.now() + 10_000
    while (peers.named('small.bin').length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(peers.named('small.bin'), [], 'what the file said before is let go')
    assert.deepEqual(peers.named('large.bin'), [], 'the large file is not read')
  })
})
