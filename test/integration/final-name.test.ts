import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { chown, link, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TEMP_MARKER } from '../../src/core/constants.js'
import { materialize, nameVerified } from '../../src/core/download/final-name.js'
import { identityOf } from '../../src/core/file-identity.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'

/**
 * A download's temporary name in the downloads directory (final-name.ts):
 * a file that is not ours at `<name>.part` is never removed nor taken for
 * ours, our own link left by a stopped run is. An attacker pass found two
 * downloads of different files of one name, finishing across filesystems at
 * once, sharing `<name>.part`: one reported its own SHA-256 over the other's
 * bytes; and a browser's `<name>.part` deleted by any download of `<name>`.
 */

const sha = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex')
const verifiedOf = async (path: string) => identityOf(await stat(path, { bigint: true }))

describe('the temporary name of a finished download', () => {
  it("leaves a file that is not ours at <name>.part as it was, and makes the download's beside it", async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'data'), 'the verified bytes')
    await writeFile(join(dir, 'movie.mkv.part'), "a browser's unfinished download")
    const made = await materialize(join(dir, 'data'), join(dir, 'movie.mkv.part'), await verifiedOf(join(dir, 'data')))
    assert.notEqual(made, join(dir, 'movie.mkv.part'))
    assert.equal(await readFile(join(dir, 'movie.mkv.part'), 'utf8'), "a browser's unfinished download")
    assert.equal(await readFile(made, 'utf8'), 'the verified bytes')
  })

  it('replaces its own link left at <name>.part by a run that was stopped', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'data'), 'the verified bytes')
    await link(join(dir, 'data'), join(dir, 'movie.mkv.part'))
    const made = await materialize(join(dir, 'data'), join(dir, 'movie.mkv.part'), await verifiedOf(join(dir, 'data')))
    assert.equal(made, join(dir, 'movie.mkv.part'))
    assert.deepEqual((await readdir(dir)).sort(), ['data', 'movie.mkv.part'])
  })

  it('replaces what a stopped run left once the re-run gave data a copy of its own: the same bytes, another inode', async (t) => {
    const dir = await tmpDir(t)
    const bytes = 'the verified bytes'
    await writeFile(join(dir, 'data'), bytes)
    await writeFile(join(dir, 'movie.mkv.part'), bytes)
    const same = { size: bytes.length, sha256: sha(bytes) }
    const made = await materialize(
      join(dir, 'data'),
      join(dir, 'movie.mkv.part'),
      await verifiedOf(join(dir, 'data')),
      same,
    )
    assert.equal(made, join(dir, 'movie.mkv.part'))
    assert.deepEqual((await readdir(dir)).sort(), ['data', 'movie.mkv.part'])
    assert.deepEqual(await verifiedOf(made), await verifiedOf(join(dir, 'data')), 'a link to data now')
  })

  it("removes what a stopped run left beside <name>.part (a link to data, of a process gone), and no one else's", async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'data'), 'the verified bytes')
    const gone = 4_194_305 // past the largest pid Linux gives
    await link(join(dir, 'data'), join(dir, `movie.mkv.part${TEMP_MARKER}${gone}-0000000a`))
    await writeFile(join(dir, `movie.mkv.part${TEMP_MARKER}${gone}-0000000b`), "somebody else's")
    const made = await materialize(join(dir, 'data'), join(dir, 'movie.mkv.part'), await verifiedOf(join(dir, 'data')))
    assert.equal(made, join(dir, 'movie.mkv.part'))
    assert.deepEqual((await readdir(dir)).sort(), [
      'data',
      'movie.mkv.part',
      `movie.mkv.part${TEMP_MARKER}${gone}-0000000b`,
    ])
  })

  it('two downloads of different files of one name, finishing at once across filesystems, each name their own bytes', async (t) => {
    const store = await tmpDir(t)
    const downloads = await mkdtemp('/dev/shm/p2p-test-')
    onCleanup(t, () => rm(downloads, { recursive: true, force: true }))
    if ((await stat(store)).dev === (await stat(downloads)).dev) return t.skip('no second filesystem here')
    const files = ['first', 'second'].map((what) => ({ path: join(store, what), bytes: Buffer.alloc(3 << 20, what) }))
    for (const f of files) await writeFile(f.path, f.bytes)
    for (let round = 0; round < 10; round++) {
      const placed = await Promise.all(
        files.map(async (f) =>
          nameVerified({
            dataPath: f.path,
            partPath: join(downloads, 'f.bin.part'),
            verified: await verifiedOf(f.path),
            dir: downloads,
            name: 'f.bin',
            size: f.bytes.length,
            sha256: sha(f.bytes),
            force: false,
          }),
        ),
      )
      for (const [k, p] of placed.entries()) assert.equal(sha(await readFile(p.path)), sha(files[k]!.bytes), p.path)
      assert.deepEqual((await readdir(downloads)).sort(), ['f (1).bin', 'f.bin'], 'and nothing temporary left')
      for (const name of await readdir(downloads)) await rm(join(downloads, name))
    }
  })

  it('copies across filesystems under a name of its own: <name>.part never holds part of the bytes', async (t) => {
    const store = await tmpDir(t)
    const downloads = await mkdtemp('/dev/shm/p2p-test-')
    onCleanup(t, () => rm(downloads, { recursive: true, force: true }))
    if ((await stat(store)).dev === (await stat(downloads)).dev) return t.skip('no second filesystem here')
    const bytes = Buffer.alloc(256 << 20, 'x')
    await writeFile(join(store, 'data'), bytes)
    const partPath = join(downloads, 'movie.mkv.part')
    let seen = 0
    let partial = 0
    let copying = true
    const watching = (async () => {
      while (copying) {
        const size = await stat(partPath).then(
          (s) => s.size,
          () => undefined,
        )
        if (size !== undefined) {
          seen++
          if (size !== bytes.length) partial++
        }
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    const made = await materialize(join(store, 'data'), partPath, await verifiedOf(join(store, 'data')))
    copying = false
    await watching
    t.diagnostic(`<name>.part seen ${seen} times during the copy, ${partial} of them partial`)
    assert.equal(made, partPath)
    assert.equal(partial, 0, 'never part of the bytes under the name')
    assert.deepEqual(await readdir(downloads), ['movie.mkv.part'], 'and nothing temporary left')
    assert.equal(sha(await readFile(partPath)), sha(bytes))
  })

  it('removes a copy cut short that a stopped run left beside <name>.part, and no other file of a process gone', async (t) => {
    const store = await tmpDir(t)
    const downloads = await tmpDir(t)
    const bytes = Buffer.from('the verified bytes, all of them')
    await writeFile(join(store, 'data'), bytes)
    const gone = 4_194_305 // past the largest pid Linux gives
    const name = (n: string) => `movie.mkv.part${TEMP_MARKER}${gone}-0000000${n}`
    await writeFile(join(downloads, name('c')), bytes.subarray(0, 12)) // the beginning: a copy cut short
    await writeFile(join(downloads, name('d')), 'the verified bytes, but other') // as long, other bytes
    await writeFile(join(downloads, name('e')), Buffer.concat([bytes, Buffer.from('!')])) // longer
    const made = await materialize(
      join(store, 'data'),
      join(downloads, 'movie.mkv.part'),
      await verifiedOf(join(store, 'data')),
    )
    assert.equal(made, join(downloads, 'movie.mkv.part'))
    assert.deepEqual((await readdir(downloads)).sort(), ['movie.mkv.part', name('d'), name('e')])
  })

  it("calls an identical file at the name already there only when it is ours: not a symbolic link, nor another user's file", async (t) => {
    const dir = await tmpDir(t)
    const outside = await tmpDir(t)
    const bytes = 'the verified bytes'
    const place = async (): Promise<{ path: string; alreadyThere: boolean }> => {
      await writeFile(join(dir, 'data'), bytes)
      const placed = await nameVerified({
        dataPath: join(dir, 'data'),
        partPath: join(dir, 'f.bin.part'),
        verified: await verifiedOf(join(dir, 'data')),
        dir,
        name: 'f.bin',
        size: bytes.length,
        sha256: sha(bytes),
        force: false,
      })
      assert.equal(await readFile(placed.path, 'utf8'), bytes)
      const result = { path: placed.path, alreadyThere: placed.alreadyThere }
      if (!placed.alreadyThere) await rm(placed.path)
      await rm(join(dir, 'f.bin'))
      return result
    }
    await writeFile(join(outside, 'same'), bytes)
    await symlink(join(outside, 'same'), join(dir, 'f.bin'))
    assert.deepEqual(await place(), { path: join(dir, 'f (1).bin'), alreadyThere: false }, 'a symbolic link: not ours')
    // Our own hard link (a finished download is one to its store's data; here another store's): ours.
    await link(join(outside, 'same'), join(dir, 'f.bin'))
    assert.deepEqual(await place(), { path: join(dir, 'f.bin'), alreadyThere: true }, 'our own hard link: ours')
    await writeFile(join(dir, 'f.bin'), bytes)
    assert.deepEqual(await place(), { path: join(dir, 'f.bin'), alreadyThere: true }, 'a copy of ours: already there')
    if (process.getuid?.() !== 0) return t.diagnostic('not root: no file of another user to link')
    // Another user's file, linked at the name by its owner (a hard link can only name a file of one's own).
    await chown(join(outside, 'same'), 65534, 65534)
    await link(join(outside, 'same'), join(dir, 'f.bin'))
    assert.deepEqual(await place(), { path: join(dir, 'f (1).bin'), alreadyThere: false }, "another user's: not ours")
  })
})
