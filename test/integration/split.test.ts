import assert from 'node:assert/strict'
import { lstat, mkdir, open, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TEMP_MARKER } from '../../src/core/constants.js'
import { hasCode } from '../../src/core/errors.js'
import { identityKey, identityOf } from '../../src/core/file-identity.js'
import { parseManifest, sha256Hex } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore, chunkFileName } from '../../src/core/store.js'
import { randomFile } from '../helpers/files.js'
import { otherProcess } from '../helpers/lock-holder.js'
import { assertStoreHolds, setup } from '../helpers/split-store.js'
import { assertEveryListedChunkTrue, assertReplacedCleanly } from '../helpers/store-truth.js'

describe('split', () => {
  const sizes: Array<[string, number, number]> = [
    ['a 0-byte file (a manifest with no chunks)', 0, 0],
    ['a file smaller than a chunk', 1000, 1],
    ['a size that is an exact multiple of the chunk size', 3 * 4096, 3],
    ['k chunks + 1 byte (no empty last chunk)', 3 * 4096 + 1, 4],
  ]
  for (const [label, size, chunks] of sizes) {
    it(`splits ${label}`, async (t) => {
      const { dir, store } = await setup(t)
      const sha = await randomFile(join(dir, 'f.bin'), size)
      const r = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
      assert.equal(r.chunks, chunks)
      const m = await assertStoreHolds(store, 'f.bin', sha)
      assert.equal(m.chunks.length, chunks)
      assert.equal((await readdir(join(store.root, 'f.bin'))).length, chunks + 1, 'no temp files left')
    })
  }

  it('splits a multi-chunk file with a non-ASCII name with spaces', async (t) => {
    const { dir, store } = await setup(t)
    const name = 'sample file é 🎉.bin'
    const sha = await randomFile(join(dir, name), 5 * 65536 + 17)
    const r = await splitFile(join(dir, name), { store, chunkSize: 65536 })
    assert.equal(r.name, name)
    await assertStoreHolds(store, name, sha)
  })

  it('is a no-op when the same file is split again', async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 20000)
    const first = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const second = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    assert.equal(first.unchanged, false)
    assert.equal(second.unchanged, true)
    assert.equal(second.id, first.id)
  })

  it('a split again rewrites a chunk file damaged in place since (same size), and only that one', async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 20000)
    const first = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const damaged = store.chunkPath(first.dir, 2)
    const handle = await open(damaged, 'r+')
    await handle.write(Buffer.alloc(16), 0, 16, 100) // bit rot, or a stray write: the size stays
    await handle.close()
    const second = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    assert.equal(second.unchanged, false)
    assert.equal(second.id, first.id)
    const manifest = parseManifest(await readFile(join(first.dir, 'manifest.json')))
    assert.equal(sha256Hex(await readFile(damaged)), manifest.chunks[2])
    assert.equal((await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })).unchanged, true, 'then nothing')
  })

  it('refuses a file that says it holds 0 bytes and reads more (/proc/version): E_IO, nothing shared as empty', async (t) => {
    const { store } = await setup(t)
    await assert.rejects(splitFile('/proc/version', { store, chunkSize: 4096 }), (e) => hasCode(e, 'E_IO'))
    assert.equal(await store.readEntryManifest('version'), undefined)
  })

  it('refuses a file written in place while it is split (same size, a new modification time): E_IO, no manifest', async (t) => {
    const { dir, store } = await setup(t)
    const file = join(dir, 'edited.bin')
    await randomFile(file, 16 << 20) // 256 chunks: the split is far from done when the edit lands
    let edited = false
    const edit = async () => {
      const handle = await open(file, 'r+')
      await handle.write(Buffer.from('edited'), 0, 6, 0)
      await handle.close()
    }
    const onProgress = () => {
      if (edited) return
      edited = true
      void edit()
    }
    await assert.rejects(splitFile(file, { store, chunkSize: 64 * 1024, onProgress }), (e: Error) => {
      assert.ok(hasCode(e, 'E_IO'))
      assert.match(e.message, /changed while being split/)
      return true
    })
    assert.ok(edited)
    assert.equal(await store.readEntryManifest('edited.bin'), undefined)
  })

  it('refuses a different file with an existing name unless forced', async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 20000)
    const first = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const sha2 = await randomFile(join(dir, 'f.bin'), 20000) // same size, other bytes
    await assert.rejects(
      splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 }),
      (e) =>
        hasCode(e, 'E_EXISTS') &&
        /something else named "f\.bin" \(other content, or split with another chunk size\): use --force/.test(
          (e as Error).message,
        ),
    )
    assert.equal((await store.readEntryManifest('f.bin'))?.id, first.id, 'old entry untouched')
    // The same size split into other chunks may be this content: the size held is named, as --chunk-size reads it.
    await assert.rejects(
      splitFile(join(dir, 'f.bin'), { store, chunkSize: 8192 }),
      (e) =>
        hasCode(e, 'E_EXISTS') &&
        /holds "f\.bin" split into 4KiB chunks \(this split: 8KiB\): pass --chunk-size 4KiB to keep it, or --force/.test(
          (e as Error).message,
        ),
    )
    const forced = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096, force: true })
    assert.notEqual(forced.id, first.id)
    await assertStoreHolds(store, 'f.bin', sha2)
  })

  it('a forced split of other content withdraws the old manifest before it changes a chunk, even when it fails', async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 5 * 4096)
    const first = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    await randomFile(join(dir, 'f.bin'), 5 * 4096) // same size and chunk size: the old chunks are compared
    // Chunk 3's file a directory: replacing it fails, after other chunks may have been replaced.
    await rm(join(store.root, 'f.bin', chunkFileName(3)))
    await mkdir(join(store.root, 'f.bin', chunkFileName(3)))
    await assert.rejects(splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096, force: true }), (e) =>
      hasCode(e, 'E_IO'),
    )
    assert.equal(await store.get(first.id), undefined, 'the old entry was withdrawn')
    await assertEveryListedChunkTrue(store)
  })

  it('refuses, with E_LOCKED naming the process, to replace content a download in another process is writing into the store', async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 5 * 4096)
    const first = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const before = await readdir(join(store.root, 'f.bin'))
    const download = otherProcess(join(store.root, '.p2p', 'locks', `${first.id}.lock`))
    t.after(() => download.done())
    assert.equal(await download.answer, 'held')
    const sha2 = await randomFile(join(dir, 'f.bin'), 5 * 4096)
    for (const force of [true, false])
      await assert.rejects(
        splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096, force }),
        (e) =>
          hasCode(e, 'E_LOCKED') &&
          e.details?.pid === download.pid &&
          /"f\.bin" is being downloaded \(or split\) by process \d+.*its lock: .*\.lock/.test((e as Error).message),
      )
    assert.equal((await store.readEntryManifest('f.bin'))?.id, first.id, 'the entry under the download untouched')
    assert.deepEqual(await readdir(join(store.root, 'f.bin')), before, 'nothing written or removed')
    await download.done()
    const second = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096, force: true })
    await assertStoreHolds(store, 'f.bin', sha2)
    await assertReplacedCleanly(store, second.id)
  })

  it("refuses (E_LOCKED) to replace a download's content whose manifest is over this store's size limit", async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 5 * 4096)
    const first = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    // A download may take a larger manifest (--max-manifest-bytes) than the store a split opens allows.
    const strict = new ChunkStore(store.root, { maxManifestBytes: 64 })
    assert.equal(await strict.readEntryManifest('f.bin'), undefined, 'unreadable to the split')
    const download = otherProcess(join(store.root, '.p2p', 'locks', `${first.id}.lock`))
    t.after(() => download.done())
    assert.equal(await download.answer, 'held')
    await randomFile(join(dir, 'f.bin'), 5 * 4096)
    await assert.rejects(
      splitFile(join(dir, 'f.bin'), { store: strict, chunkSize: 4096, force: true }),
      (e) => hasCode(e, 'E_LOCKED') && e.details?.pid === download.pid,
    )
    assert.equal((await store.readEntryManifest('f.bin'))?.id, first.id, 'the entry under the download untouched')
  })

  it('never passes over a manifest it cannot read: refused unless forced, then replaced', async (t) => {
    const { dir, store } = await setup(t)
    const sha = await randomFile(join(dir, 'f.bin'), 3 * 4096)
    await mkdir(join(store.root, 'f.bin'))
    await writeFile(join(store.root, 'f.bin', 'manifest.json'), '{"version":1,"damaged') // not a manifest
    await assert.rejects(splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 }), (e) => hasCode(e, 'E_EXISTS'))
    assert.equal(await readFile(join(store.root, 'f.bin', 'manifest.json'), 'utf8'), '{"version":1,"damaged')
    await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096, force: true })
    await assertStoreHolds(store, 'f.bin', sha)
  })

  it('repairs a missing chunk file on a re-run', async (t) => {
    const { dir, store } = await setup(t)
    const sha = await randomFile(join(dir, 'f.bin'), 20000)
    await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    await writeFile(join(store.root, 'f.bin', chunkFileName(2)), 'torn')
    const { rm } = await import('node:fs/promises')
    await rm(join(store.root, 'f.bin', chunkFileName(1)))
    const again = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    assert.equal(again.unchanged, false)
    await assertStoreHolds(store, 'f.bin', sha)
  })

  it('reports a missing file, a directory and a bad name with their codes', async (t) => {
    const { dir, store } = await setup(t)
    await assert.rejects(splitFile(join(dir, 'missing'), { store, chunkSize: 4096 }), (e) => hasCode(e, 'E_NOT_FOUND'))
    await assert.rejects(splitFile(dir, { store, chunkSize: 4096 }), (e) => hasCode(e, 'E_USAGE'))
    await writeFile(join(dir, 'bad\nname'), 'x')
    await assert.rejects(splitFile(join(dir, 'bad\nname'), { store, chunkSize: 4096 }), (e) => hasCode(e, 'E_BAD_NAME'))
  })

  it('writes a fresh entry in place, and never through a file or link already at a chunk path', async (t) => {
    const { dir, store } = await setup(t)
    const sha = await randomFile(join(dir, 'f.bin'), 6 * 4096)
    const entry = join(store.root, 'f.bin')
    await mkdir(entry)
    // Left by an interrupted split: a truncated chunk 1, and a link at chunk 2 to a file outside the store.
    await writeFile(join(entry, chunkFileName(1)), 'half')
    await writeFile(join(dir, 'outside'), 'keep me')
    await symlink(join(dir, 'outside'), join(entry, chunkFileName(2)))
    const held = await open(join(entry, chunkFileName(1)), 'r') // a reader of the old file keeps its bytes
    await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    await assertStoreHolds(store, 'f.bin', sha)
    assert.equal((await held.readFile('utf8')).slice(0, 4), 'half', 'replaced by a rename, not rewritten in place')
    await held.close()
    assert.equal(await readFile(join(dir, 'outside'), 'utf8'), 'keep me')
    assert.ok((await lstat(join(entry, chunkFileName(2)))).isFile())
    assert.deepEqual(
      (await readdir(entry)).filter((f) => f.includes(TEMP_MARKER)),
      [],
      'no temp file left',
    )
  })

  it('refuses a private file however it was reached, by what it opened (a link swapped in after the name was checked)', async (t) => {
    const { dir, store } = await setup(t)
    const key = join(dir, 'id.key')
    await writeFile(key, 'the private key')
    await symlink(key, join(dir, 'notes.txt')) // what a local user swaps in once `notes.txt` was checked
    const st = await stat(key, { bigint: true })
    const privateFiles = new Map([[identityKey(identityOf(st)), 'the identity file']])
    await assert.rejects(
      splitFile(join(dir, 'notes.txt'), { store, privateFiles }),
      (err) => hasCode(err, 'E_USAGE') && /is the identity file/.test((err as Error).message),
    )
    assert.ok(!(await readdir(store.root)).includes('notes.txt'), 'nothing split')
  })
})
