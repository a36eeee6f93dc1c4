import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { packedDataPath, readPackedHave } from '../../src/core/packed.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { type Misbehaviour, startLiar } from '../helpers/liar.js'
import { freeUdpPort, runDownload, split, startSeeder } from '../helpers/swarm.js'

interface Receipt { peers: Array<{ peer: string; bytes: number; banned?: string }> }

/**
 * A misbehaving peer is the only one when the download starts; an honest
 * seeder joins once the downloader has asked the liar for something.
 * Whatever the liar does, the file must come out identical (FAULTS.md
 * cases 3, 5, 6, 35).
 */
async function liarThenHonest(t: Cleanup, mode: Misbehaviour, extra: string[] = [], honest = true) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const size = 64 * 65536
  const sha = await randomFile(join(dir, 'target.bin'), size)
  const { id } = await split(join(dir, 'honest'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
  const liar = await startLiar(t, { udpPort: udp, storeDir: join(dir, 'honest'), name: 'target.bin', id, mode })
  // --wait 60: the honest seeder starts only once the liar was asked, and starting two processes can take seconds on a busy machine.
  const download = runDownload(join(dir, 'd'), udp, ['target.bin', '--window', '4', '--wait', '60', ...extra])
  if (honest) {
    await Promise.race([liar.asked(), download.then((r) => assert.fail(`the download ended (${r.code}) before it asked the liar: ${r.log}`))])
    await startSeeder(t, join(dir, 'honest'), udp)
  }
  const r = await download
  return { dir, sha, liar, r, receipt: r.result as unknown as Receipt }
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

  it('the only peer serving corrupt data: exit 5 (E_CHECKSUM), no output file', async (t) => {
    const { dir, r } = await liarThenHonest(t, 'random', ['--wait', '1'], false)
    assert.equal(r.code, 5, r.log)
    assert.equal((r.result as { code?: string }).code, 'E_CHECKSUM')
    assert.deepEqual(await (await import('node:fs/promises')).readdir(join(dir, 'd', 'downloads')), [])
  })
})
