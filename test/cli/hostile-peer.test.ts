import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { packedDataPath, readPackedHave } from '../../src/core/packed.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { type Misbehaviour, startLiar } from '../helpers/liar.js'
import { startManifestPeer } from '../helpers/manifest-peer.js'
import { peakRssProbe } from '../helpers/peak-rss-probe.js'
import { downloadArgs, freeUdpPort, runDownload, split, startSeeder, storeArgs } from '../helpers/swarm.js'

interface Receipt {
  seconds: number
  peers: Array<{ peer: string; bytes: number; banned?: string }>
}

/** When the honest seeder joins: once a liar was asked anything, once one sent a right chunk, or never. */
type HonestJoins = 'after-a-request' | 'after-a-chunk' | 'never'

/**
 * Misbehaving peers are the only ones when the download starts; an honest
 * seeder joins as `joins` says (by default once the downloader has asked
 * one of them for something).
 * Whatever the liars do, the file must come out identical (FAULTS.md cases
 * 3, 5, 6, 35, 38, 40).
 */
async function liarsThenHonest(
  t: Cleanup,
  modes: Misbehaviour[],
  extra: string[] = [],
  joins: HonestJoins = 'after-a-request',
) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const size = 64 * 65536
  const sha = await randomFile(join(dir, 'target.bin'), size)
  const { id } = await split(join(dir, 'honest'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
  const liars = await Promise.all(
    modes.map((mode) => startLiar(t, { udpPort: udp, storeDir: join(dir, 'honest'), name: 'target.bin', id, mode })),
  )
  // --wait 60: the honest seeder starts only once a liar was asked (or answered), and starting two processes can take seconds on a busy machine.
  const download = runDownload(join(dir, 'd'), udp, ['target.bin', '--window', '4', '--wait', '60', ...extra])
  if (joins !== 'never') {
    await Promise.race([
      Promise.any(liars.map((l) => (joins === 'after-a-chunk' ? l.answered() : l.asked()))),
      download.then((r) =>
        assert.fail(
          `the download ended (${r.code}) before a liar ${joins === 'after-a-chunk' ? 'sent a chunk' : 'was asked'}: ${r.log}`,
        ),
      ),
    ])
    await startSeeder(t, join(dir, 'honest'), udp)
  }
  const r = await download
  const receipt = r.result as unknown as Receipt
  const peerOf = (liar: { port: number }) => receipt.peers.find((p) => p.peer.endsWith(`:${liar.port}`))
  return { dir, sha, liars, r, receipt, peerOf }
}

async function liarThenHonest(t: Cleanup, mode: Misbehaviour, extra: string[] = [], joins?: HonestJoins) {
  const run = await liarsThenHonest(t, [mode], extra, joins)
  return { ...run, liar: run.liars[0]! }
}

describe('a hostile peer beside an honest seeder', () => {
  it('random chunk bytes: detected, fetched elsewhere, the liar banned after 3, nothing bad stored', async (t) => {
    const { dir, sha, liar, r, receipt } = await liarThenHonest(t, 'random')
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    const banned = receipt.peers.filter((p) => p.banned)
    assert.equal(banned.length, 1, JSON.stringify(receipt.peers))
    assert.match(banned[0]!.banned!, /failed SHA-256/)
    assert.equal(banned[0]!.bytes, 0)
    assert.ok(liar.requests() >= 3)
    // What the downloader stored (and now serves) is the honest bytes, all of them.
    const entry = join(dir, 'd', 'chunks', 'target.bin')
    assert.equal(await sha256File(packedDataPath(entry)), sha)
    assert.equal((await readPackedHave(entry, 64))?.count(), 64)
  })

  it('a forged manifest is refused and its sender banned', async (t) => {
    const { dir, sha, liar, r, receipt } = await liarThenHonest(t, 'forge')
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    assert.equal(liar.requests(), 0)
    assert.ok(receipt.peers.some((p) => p.banned?.includes('manifest')))
  })

  it('announced chunks it lacks (E_NOT_FOUND) are fetched from the honest seeder', async (t) => {
    const { dir, sha, r, receipt } = await liarThenHonest(t, 'missing')
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    assert.ok(receipt.peers.every((p) => !p.banned))
  })

  for (const mode of ['short', 'long'] as const) {
    it(`a body one byte ${mode === 'short' ? 'short (then close)' : 'long'}: rejected, connection dropped, re-requested`, async (t) => {
      const { dir, sha, r } = await liarThenHonest(t, mode)
      assert.equal(r.code, 0, r.log)
      assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    })
  }

  it('responses that break the protocol (wrong size, wrong index, huge header, huge error, error with a body): refused unread, each liar banned', async (t) => {
    const modes = ['undersize', 'reorder', 'huge-header', 'huge-error', 'error-body'] as const
    const { dir, sha, r, liars, peerOf, receipt } = await liarsThenHonest(t, [...modes])
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    liars.forEach((liar, i) => {
      const p = peerOf(liar)
      assert.equal(p?.bytes, 0, modes[i])
      assert.match(p?.banned ?? '', /broke the protocol/, `${modes[i]}: ${JSON.stringify(receipt.peers)}`)
    })
  })

  it('peers that trickle, stall mid-body, reset or never answer: dropped at their deadline, not banned', async (t) => {
    const modes = ['trickle', 'stall', 'reset', 'silent'] as const
    const { dir, sha, r, liars, peerOf, receipt } = await liarsThenHonest(t, [...modes])
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    liars.forEach((liar, i) => {
      const p = peerOf(liar)
      assert.equal(p?.banned, undefined, `${modes[i]}: ${JSON.stringify(receipt.peers)}`)
      assert.equal(p?.bytes ?? 0, 0, modes[i])
    })
    // Generous: their chunks move on at their first deadline (1 s), not at the 30 s request timeout.
    assert.ok(receipt.seconds < 15, `${receipt.seconds} s`)
  })

  it('a slow peer holding half the file (so the seeder is asked after it) is used less, and the download does not wait on it', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'target.bin'), 256 * 65536)
    const { id } = await split(join(dir, 'honest'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
    const common = { udpPort: udp, storeDir: join(dir, 'honest'), name: 'target.bin', id, mode: 'slow' as const }
    // Both honest; the seeder answers each request after 10 ms, the partial peer after 300 ms.
    const seeder = await startLiar(t, { ...common, delayMs: 10 })
    const partial = await startLiar(t, { ...common, delayMs: 300, have: Array.from({ length: 128 }, (_, i) => 2 * i) })
    const r = await runDownload(join(dir, 'd'), udp, ['target.bin', '--wait', '30'])
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    const receipt = r.result as unknown as Receipt
    const bytesOf = (liar: { port: number }) => receipt.peers.find((p) => p.peer.endsWith(`:${liar.port}`))?.bytes ?? 0
    assert.ok(
      receipt.peers.every((p) => p.banned === undefined),
      JSON.stringify(receipt.peers),
    )
    assert.ok(bytesOf(partial) > 0 && bytesOf(partial) < bytesOf(seeder) / 4, JSON.stringify(receipt.peers))
  })

  it("a stranger announcing the seeder's peer id at its own port: its handshake fails, nothing is asked of it, the seeder's path carries the file", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'target.bin'), 64 * 65536)
    const { id } = await split(join(dir, 'honest'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
    const me = await runBin('p2p', ['id', '--json', ...storeArgs(join(dir, 'honest'))])
    const { peerId } = JSON.parse(me.stdout) as { peerId: string }
    // It holds the right bytes and would hand them over: only the handshake can tell it from the seeder. It is
    // the only path to that peer id at first, so the download tries it; the seeder joins once it has.
    const stranger = await startLiar(t, {
      udpPort: udp,
      storeDir: join(dir, 'honest'),
      name: 'target.bin',
      id,
      mode: 'slow',
      delayMs: 0,
      claimPeerId: peerId,
    })
    const download = runDownload(join(dir, 'd'), udp, ['target.bin', '--wait', '30'])
    for (let waited = 0; stranger.connections() === 0; waited += 20) {
      assert.ok(waited < 30_000, 'the download never tried the only path announced')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const seeder = await startSeeder(t, join(dir, 'honest'), udp)
    const r = await download
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    const receipt = r.result as unknown as Receipt
    const bytesAt = (port: number) => receipt.peers.find((p) => p.peer.endsWith(`:${port}`))?.bytes ?? 0
    assert.equal(stranger.frames(), 0, 'nothing, not even the manifest, was asked of a peer that failed the handshake')
    assert.equal(bytesAt(stranger.port), 0)
    assert.equal(bytesAt(seeder.port), 64 * 65536, JSON.stringify(receipt.peers))
  })

  it('a slow but honest peer is used (less), never banned', async (t) => {
    // The seeder joins after the slow peer's first chunk: joining earlier, a fast machine could fetch the
    // whole file from it, endgame included, before the slow peer's first answer (600 ms), which left it 0 bytes.
    const { dir, sha, r, receipt, liar } = await liarThenHonest(t, 'slow', [], 'after-a-chunk')
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    const slow = receipt.peers.find((q) => q.peer.endsWith(`:${liar.port}`))!
    const honest = receipt.peers.find((q) => !q.peer.endsWith(`:${liar.port}`))!
    assert.equal(slow.banned, undefined)
    assert.ok(slow.bytes > 0 && slow.bytes < honest.bytes, JSON.stringify(receipt.peers))
  })

  it('the only peer serving corrupt data: exit 5 (E_CHECKSUM), no output file', async (t) => {
    // --wait bounds both hearing the liar and waiting for another peer once it is banned: the default (10 s),
    // not 1 s, which a loaded machine could spend before the liar's announcement was heard (exit 3).
    const { dir, r } = await liarThenHonest(t, 'random', ['--wait', '10'], 'never')
    assert.equal(r.code, 5, r.log)
    assert.equal((r.result as { code?: string }).code, 'E_CHECKSUM')
    assert.deepEqual(await (await import('node:fs/promises')).readdir(join(dir, 'd', 'downloads')), [])
  })

  it('a peer that announces a 200,000-chunk file and denies every chunk: exit 4 (E_NO_PEER) in bounded time and memory', async (t) => {
    // Each denial once sent the chunk choice back to the start of its 200,000-chunk order: the download
    // ran past 10 minutes and 650 MB. Measured after the fix: 16 s, 234 MB peak (the 14 MB manifest parsed,
    // and the garbage of 200,000 requests). The time bound is a hang bound (15 × that); the memory bound
    // is under 2 × the figure but well below the old 650 MB.
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const count = 200_000
    const chunkSize = 4096
    const manifest = {
      version: 1,
      name: 'claimed.bin',
      size: count * chunkSize,
      chunkSize,
      chunks: Array.from({ length: count }, () => randomBytes(32).toString('hex')),
      sha256: randomBytes(32).toString('hex'),
    }
    const peer = await startManifestPeer(t, {
      udpPort: udp,
      bytes: Buffer.from(JSON.stringify(manifest)),
      name: 'claimed.bin',
      size: manifest.size,
      chunks: count,
    })
    const peakRss = peakRssProbe(join(dir, 'peak-rss'))
    const r = await runBin(
      'p2p-download',
      downloadArgs(join(dir, 'd'), udp, ['--transport', 'plain', '--id', peer.id, '--wait', '5']),
      { timeoutMs: 240_000, env: peakRss.env },
    )
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /200000 chunks .* have no live peer.*\[E_NO_PEER\]/)
    const peak = await peakRss.read()
    assert.ok(peak < 450e6, `peak RSS ${(peak / 1e6).toFixed(0)} MB`)
  })
})
