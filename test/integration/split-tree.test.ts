import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { appendFileSync, renameSync, symlinkSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hasCode } from '../../src/core/errors.js'
import { manifestId } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { splitTree } from '../../src/core/split-tree.js'
import { ChunkStore } from '../../src/core/store.js'
import { TreeLayout } from '../../src/core/tree-layout.js'
import { isDir, parseTreeManifest } from '../../src/core/tree-manifest.js'
import { mkfifo, tmpDir } from '../helpers/files.js'
import { otherProcess } from '../helpers/lock-holder.js'
import { assertEveryListedChunkTrue, assertReplacedCleanly } from '../helpers/store-truth.js'
import { makeTree, treeListing } from '../helpers/tree-files.js'

const CHUNK = 4096

async function setup(t: Parameters<typeof tmpDir>[0]) {
  const base = await tmpDir(t)
  const store = new ChunkStore(join(base, 'chunks'))
  await store.init()
  return { base, store, folder: join(base, 'album') }
}

/** The store's chunk files, put back together per the manifest, listed like treeListing. */
async function rebuiltListing(store: ChunkStore, name: string): Promise<string[]> {
  const bytes = await readFile(join(store.root, name, 'manifest.json'))
  const manifest = parseTreeManifest(bytes)
  const layout = new TreeLayout(manifest)
  const out: string[] = []
  let k = 0
  for (const e of manifest.entries) {
    if (isDir(e)) {
      out.push(`${e.path}/`)
      continue
    }
    const hash = createHash('sha256')
    let size = 0
    for (let j = 0; j < e.chunks.length; j++) {
      const chunk = await readFile(store.chunkPath(join(store.root, name), layout.firstChunk(k) + j))
      assert.equal(createHash('sha256').update(chunk).digest('hex'), e.chunks[j], `${e.path} chunk ${j}`)
      hash.update(chunk)
      size += chunk.length
    }
    const sha = hash.digest('hex')
    assert.equal(sha, e.sha256, e.path)
    out.push(`${e.path} ${size} ${e.exec ? 'x' : '-'} ${sha}`)
    k++
  }
  return out.sort()
}

/** Twenty 100-byte files, f00 … f19. */
function twentyFiles(): Record<string, number> {
  const spec: Record<string, number> = {}
  for (let i = 0; i < 20; i++) spec[`f${String(i).padStart(2, '0')}`] = 100
  return spec
}

/** The folder split, `change` made once at its first progress: after the walk, before most files are read. */
function splitChangingOnce(folder: string, store: ChunkStore, change: () => void, force = false) {
  let changed = false
  return splitTree(folder, {
    store,
    chunkSize: CHUNK,
    force,
    onProgress: () => {
      if (changed) return
      changed = true
      change()
    },
  })
}

describe('split of a folder', () => {
  it('stores every file as chunks on global indices, byte for byte, with directories, empty ones and the executable bit', async (t) => {
    const { store, folder } = await setup(t)
    await makeTree(folder, {
      'docs/deep/er/a.txt': 'hello',
      'docs/empty/': 0,
      'sample file é 🎉.bin': 3 * CHUNK + 1,
      'exact.bin': 2 * CHUNK,
      zero: '',
      'run.sh': { size: 100, exec: true },
      'one.bin': CHUNK,
      'only-dirs/a/b/': 0,
    })
    const r = await splitTree(folder, { store, chunkSize: CHUNK })
    assert.equal(r.name, 'album')
    assert.equal(r.files, 6)
    assert.equal(r.dirs, 7)
    assert.equal(r.chunks, 1 + 4 + 2 + 0 + 1 + 1)
    assert.equal(r.size, 5 + 3 * CHUNK + 1 + 2 * CHUNK + 100 + CHUNK)
    assert.equal(r.unchanged, false)
    const bytes = await readFile(join(store.root, 'album', 'manifest.json'))
    assert.equal(manifestId(bytes), r.id)
    assert.deepEqual(await rebuiltListing(store, 'album'), await treeListing(folder))
  })

  it('re-splitting an unchanged folder writes nothing; a changed one is refused unless forced', async (t) => {
    const { store, folder } = await setup(t)
    await makeTree(folder, { 'a.bin': 2 * CHUNK + 5, 'b/c.txt': 'c' })
    const first = await splitTree(folder, { store, chunkSize: CHUNK })
    const original = await rebuiltListing(store, 'album')
    const chunkFile = store.chunkPath(join(store.root, 'album'), 0)
    const before = (await stat(chunkFile)).mtimeMs
    const again = await splitTree(folder, { store, chunkSize: CHUNK })
    assert.equal(again.unchanged, true)
    assert.equal(again.id, first.id)
    assert.equal((await stat(chunkFile)).mtimeMs, before, 'no chunk written again')
    await assert.rejects(
      splitTree(folder, { store, chunkSize: 4 * CHUNK }),
      (err: unknown) =>
        hasCode(err, 'E_EXISTS') &&
        /"album" split into 4KiB chunks \(this split: 16KiB\): pass --chunk-size 4KiB to keep it/.test(
          (err as Error).message,
        ),
      'another chunk size: the size held named',
    )
    await writeFile(join(folder, 'a.bin'), 'changed')
    await assert.rejects(
      splitTree(folder, { store, chunkSize: CHUNK }),
      (err: unknown) =>
        hasCode(err, 'E_EXISTS') && /something else named "album" \(other content/.test((err as Error).message),
    )
    assert.deepEqual(await rebuiltListing(store, 'album'), original, 'the old split is intact')
    const forced = await splitTree(folder, { store, chunkSize: CHUNK, force: true })
    assert.notEqual(forced.id, first.id)
    assert.deepEqual(await rebuiltListing(store, 'album'), await treeListing(folder))
  })

  it('refuses (E_LOCKED) to replace a folder a download in another process is writing into the store', async (t) => {
    const { store, folder } = await setup(t)
    await makeTree(folder, { 'a.bin': 2 * CHUNK + 5, 'b/c.txt': 'c' })
    const first = await splitTree(folder, { store, chunkSize: CHUNK })
    const original = await rebuiltListing(store, 'album')
    const download = otherProcess(join(store.root, '.p2p', 'locks', `${first.id}.lock`))
    t.after(() => download.done())
    assert.equal(await download.answer, 'held')
    await writeFile(join(folder, 'a.bin'), 'changed')
    await assert.rejects(
      splitTree(folder, { store, chunkSize: CHUNK, force: true }),
      (err: unknown) => hasCode(err, 'E_LOCKED') && err.details?.pid === download.pid,
    )
    assert.deepEqual(await rebuiltListing(store, 'album'), original, 'the folder under the download untouched')
    await download.done()
    const second = await splitTree(folder, { store, chunkSize: CHUNK, force: true })
    assert.deepEqual(await rebuiltListing(store, 'album'), await treeListing(folder))
    await assertReplacedCleanly(store, second.id)
  })

  it('a forced split of a changed folder withdraws the old manifest before it changes a chunk, even when it fails', async (t) => {
    const { store, folder } = await setup(t)
    await makeTree(folder, { 'a.bin': 3 * CHUNK, 'b.bin': 3 * CHUNK })
    const first = await splitTree(folder, { store, chunkSize: CHUNK })
    await makeTree(folder, { 'a.bin': 3 * CHUNK, 'b.bin': 3 * CHUNK }) // new random bytes, the same layout
    const last = store.chunkPath(join(store.root, 'album'), 5)
    await rm(last)
    await mkdir(last) // b.bin's last chunk cannot be replaced: the split fails once others may have been
    await assert.rejects(splitTree(folder, { store, chunkSize: CHUNK, force: true }), (err: unknown) =>
      hasCode(err, 'E_IO'),
    )
    assert.equal(await store.get(first.id), undefined, 'the old entry was withdrawn')
    await assertEveryListedChunkTrue(store)
    // Another chunk size: the old manifest goes before any chunk is written.
    await rm(last, { recursive: true })
    const again = await splitTree(folder, { store, chunkSize: CHUNK })
    await rm(store.chunkPath(join(store.root, 'album'), 2))
    await mkdir(store.chunkPath(join(store.root, 'album'), 2))
    await assert.rejects(splitTree(folder, { store, chunkSize: 2 * CHUNK, force: true }))
    assert.equal(await store.get(again.id), undefined, 'withdrawn before the first write')
    await assertEveryListedChunkTrue(store)
  })

  it('never passes over a manifest it cannot read: refused unless forced, then replaced', async (t) => {
    const { store, folder } = await setup(t)
    await makeTree(folder, { 'a.txt': 'a', 'b/c.txt': 'c' })
    await mkdir(join(store.root, 'album'))
    mkfifo(join(store.root, 'album', 'manifest.json')) // not a regular file: never opened blocking, never read
    await assert.rejects(splitTree(folder, { store, chunkSize: CHUNK }), (err: unknown) => hasCode(err, 'E_EXISTS'))
    await splitTree(folder, { store, chunkSize: CHUNK, force: true })
    assert.deepEqual(await rebuiltListing(store, 'album'), await treeListing(folder))
  })

  it("refuses to replace a file's entry of the same name unless forced", async (t) => {
    const { base, store, folder } = await setup(t)
    await writeFile(join(base, 'file'), 'x')
    await splitFile(join(base, 'file'), { store, chunkSize: CHUNK })
    await rename(join(store.root, 'file'), join(store.root, 'album'))
    await makeTree(folder, { 'a.txt': 'a' })
    await assert.rejects(splitTree(folder, { store, chunkSize: CHUNK }), (err: unknown) => hasCode(err, 'E_EXISTS'))
    await splitTree(folder, { store, chunkSize: CHUNK, force: true })
    assert.deepEqual(await rebuiltListing(store, 'album'), await treeListing(folder))
  })

  it('stops when a file changes, or is swapped for a link, between the walk and its read', async (t) => {
    const { base, store, folder } = await setup(t)
    await makeTree(folder, twentyFiles())
    await assert.rejects(
      splitChangingOnce(folder, store, () => appendFileSync(join(folder, 'f19'), 'more')),
      (err: unknown) => hasCode(err, 'E_IO') && /f19 changed while/.test(err.message),
    )
    await writeFile(join(base, 'secret'), 'outside')
    // `name` moved out of the folder and something else put at its path, once the walk has passed it.
    const swapped = (name: string, put: (path: string) => void) =>
      splitChangingOnce(
        folder,
        store,
        () => {
          renameSync(join(folder, name), join(base, `moved-${name}`))
          put(join(folder, name))
        },
        true,
      )
    await assert.rejects(
      swapped('f18', (path) => symlinkSync(join(base, 'secret'), path)),
      (err: unknown) => hasCode(err, 'E_IO') && /f18 changed while/.test(err.message),
    )
    // A FIFO in a small file's place is opened without blocking, found not to be the file, and never read.
    await assert.rejects(
      swapped('f17', (path) => mkfifo(path)),
      (err: unknown) => hasCode(err, 'E_IO') && /f17 changed while/.test(err.message),
    )
  })

  it('stops when an empty file gets bytes between the walk and the split (it is never read, yet checked)', async (t) => {
    const { store, folder } = await setup(t)
    await makeTree(folder, { ...twentyFiles(), 'zz-empty': 0 })
    await assert.rejects(
      splitChangingOnce(folder, store, () => appendFileSync(join(folder, 'zz-empty'), 'now it has bytes')),
      (err: unknown) => hasCode(err, 'E_IO') && /zz-empty changed while/.test(err.message),
    )
  })

  it('replaces what an interrupted split left at a small file’s chunk name (no manifest), and never writes through a link there', async (t) => {
    const { base, store, folder } = await setup(t)
    await makeTree(folder, twentyFiles())
    const entry = join(store.root, 'album')
    await mkdir(entry, { recursive: true })
    await writeFile(store.chunkPath(entry, 3), 'half a chunk from a killed run')
    await writeFile(join(base, 'target'), 'untouched')
    symlinkSync(join(base, 'target'), store.chunkPath(entry, 7))
    await splitTree(folder, { store, chunkSize: CHUNK })
    assert.deepEqual(await rebuiltListing(store, 'album'), await treeListing(folder))
    assert.equal(await readFile(join(base, 'target'), 'utf8'), 'untouched')
  })

  it('lets the event loop turn while thousands of small files are split, and stops when the signal aborts', async (t) => {
    const { base, store, folder } = await setup(t)
    const spec: Record<string, number> = {}
    for (let i = 0; i < 3000; i++) spec[`d${i % 10}/f${String(i).padStart(4, '0')}`] = 10 + (i % 50)
    await makeTree(folder, spec)
    let files = 0
    let widest = 0
    let atTurn = 0
    let turning = true
    const turn = (): void => {
      widest = Math.max(widest, files - atTurn)
      atTurn = files
      if (turning) setImmediate(turn)
    }
    setImmediate(turn)
    try {
      await splitTree(folder, { store, chunkSize: CHUNK, onProgress: () => files++ })
    } finally {
      turning = false
    }
    assert.equal(files, 3000)
    assert.ok(widest <= 256 + 8, `at most a batch of files between two turns of the event loop: ${widest}`)

    // Into a fresh store: every file takes the synchronous way again (none of its chunks is there yet).
    const fresh = new ChunkStore(join(base, 'another-store'))
    const stop = new AbortController()
    let seen = 0
    await assert.rejects(
      splitTree(folder, {
        store: fresh,
        chunkSize: CHUNK,
        signal: stop.signal,
        onProgress: () => {
          if (++seen === 100) setImmediate(() => stop.abort(new Error('stopped by the test')))
        },
      }),
      /stopped by the test/,
    )
    assert.ok(seen < 3000, `stopped before the end: ${seen} files`)
    const entries = (await readdir(fresh.root)).filter((n) => !n.startsWith('.'))
    assert.deepEqual(entries, [], 'a new entry stopped leaves no chunk file, nor its directory')
  })

  it('refuses a folder whose own name cannot be an item name', async (t) => {
    const { base, store } = await setup(t)
    await makeTree(join(base, '.p2p-stuff'), { a: 'a' })
    await assert.rejects(splitTree(join(base, '.p2p-stuff'), { store, chunkSize: CHUNK }), (err: unknown) =>
      hasCode(err, 'E_BAD_NAME'),
    )
    assert.deepEqual(
      (await readdir(store.root)).filter((n) => !n.startsWith('.')),
      [],
    )
  })
})
