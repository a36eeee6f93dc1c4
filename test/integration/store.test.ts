import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cp, mkdir, readdir, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { assertWritable } from '../../src/core/disk.js'
import { hasCode } from '../../src/core/errors.js'
import { packedHavePath, readPackedHave, writePackedHave } from '../../src/core/packed.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore, chunkFileName } from '../../src/core/store.js'
import { StoreCatalog } from '../../src/core/transfer/store-catalog.js'
import { mkfifo, randomFile, tmpDir } from '../helpers/files.js'

/** A new, empty store in a new directory. */
async function emptyStore(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  return { dir, store }
}

/** A 10,000-byte file split into a fresh store under a new directory: the directory, the split, its entry. */
async function splitInStore(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t)
  const a = new ChunkStore(join(dir, 'a', 'chunks'))
  await a.init()
  await randomFile(join(dir, 'a.bin'), 10_000)
  const split = await splitFile(join(dir, 'a.bin'), { store: a, chunkSize: 4096 })
  return { dir, split, entry: (await a.get(split.id))! }
}

describe('chunk store', () => {
  it('scans entries with their have-sets, skipping temp files, symlinks and the private dir', async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'a.bin'), 10_000)
    const split = await splitFile(join(dir, 'a.bin'), { store, chunkSize: 4096 })
    await unlink(join(split.dir, chunkFileName(1)))
    await writeFile(join(split.dir, `${chunkFileName(1)}.tmp-123`), 'partial')
    await symlink(join(split.dir, chunkFileName(0)), join(split.dir, chunkFileName(1)).replace('000001', '000009'))
    await mkdir(join(store.root, 'no-manifest'))
    await writeFile(join(store.root, 'no-manifest', chunkFileName(0)), 'x')
    const entries = await store.scan()
    assert.equal(entries.length, 1)
    assert.equal(entries[0]!.id, split.id)
    assert.deepEqual(entries[0]!.have.indices(), [0, 2])
    assert.equal((await store.get(split.id))?.name, 'a.bin')
    assert.equal(await store.get('0'.repeat(64)), undefined)
  })

  it('adds what a packed data.have lists, and ignores a data.have of the wrong length or with spare bits set', async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'p.bin'), 5 * 4096)
    const split = await splitFile(join(dir, 'p.bin'), { store, chunkSize: 4096 })
    for (const i of [1, 2, 3, 4]) await unlink(join(split.dir, chunkFileName(i)))
    const have = new Bitfield(5)
    have.set(3)
    await writePackedHave(split.dir, have)
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0, 3], 'chunk files and packed chunks together')
    await writeFile(packedHavePath(split.dir), Buffer.from([0xff, 0xff])) // 2 bytes for 5 chunks
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0])
    await writeFile(packedHavePath(split.dir), Buffer.from([0xff])) // bits past chunk 4 set
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0])
    assert.equal(await readPackedHave(split.dir, 5), undefined)
    await unlink(packedHavePath(split.dir))
    await symlink('/dev/zero', packedHavePath(split.dir)) // never followed (and never read without bound)
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0])
  })

  it('ignores an invalid manifest instead of failing the scan', async (t) => {
    const { store } = await emptyStore(t)
    await mkdir(join(store.root, 'junk'))
    await writeFile(join(store.root, 'junk', 'manifest.json'), '{"version":1}')
    assert.deepEqual(await store.scan(), [])
  })

  it('names an entry by its id when the name holds different content', async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'same'), 5000)
    const first = await splitFile(join(dir, 'same'), { store, chunkSize: 4096 })
    assert.equal(await store.dirNameFor('same', first.id), 'same')
    const other = 'f'.repeat(64)
    assert.equal(await store.dirNameFor('same', other), other)
    assert.equal(await store.dirNameFor('fresh', other), 'fresh')
    assert.equal(await store.dirNameFor('../evil', other), other)
    await randomFile(join(dir, '..notes'), 100) // starts with "..": a name like any other
    const dots = await splitFile(join(dir, '..notes'), { store, chunkSize: 4096 })
    assert.equal((await store.get(dots.id))?.name, '..notes')
  })

  it("a file named like another file's id never takes over that file's id directory", async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'same'), 5000)
    await splitFile(join(dir, 'same'), { store, chunkSize: 4096 })
    const other = 'e'.repeat(64) // the id of a second file, also named "same"
    await randomFile(join(dir, other), 3000)
    const named = await splitFile(join(dir, other), { store, chunkSize: 4096 }) // a third file, named like that id
    assert.equal(await store.dirNameFor('same', other), `${other}.2`)
    assert.equal((await store.readEntryManifest(other))?.id, named.id, 'untouched')
  })

  it('keeps one stable peer id per store', async (t) => {
    const dir = await tmpDir(t)
    const a = new ChunkStore(join(dir, 'a'))
    await a.init()
    const id = await a.peerId()
    assert.match(id, /^[0-9a-f]{32}$/)
    assert.equal(await new ChunkStore(join(dir, 'a')).peerId(), id)
    const b = new ChunkStore(join(dir, 'b'))
    await b.init()
    assert.notEqual(await b.peerId(), id)
  })

  it('gives every command starting together on a fresh store the same peer id', async (t) => {
    const dir = await tmpDir(t)
    const root = join(dir, 'fresh')
    // Separate instances, as p2p-announce and p2p-download are: each reads none and makes one at once.
    const stores = Array.from({ length: 8 }, () => new ChunkStore(root))
    await stores[0]!.init()
    const ids = await Promise.all(stores.map((s) => s.peerId()))
    assert.equal(new Set(ids).size, 1, `one id, not ${new Set(ids).size}`)
    assert.equal(await new ChunkStore(root).peerId(), ids[0], 'and it is the one kept')
    assert.deepEqual(await readdir(join(root, '.p2p')), ['peer-id'], 'no temp file left')
  })

  it('leaves no temporary file when a peer id cannot be written (a file size limit of 0)', async (t) => {
    const dir = await tmpDir(t)
    const root = join(dir, 'store')
    const store = join(process.cwd(), 'dist/src/core/store.js')
    const script = `const { ChunkStore } = await import(${JSON.stringify(store)});
      const s = new ChunkStore(${JSON.stringify(root)}); await s.init();
      for (let i = 0; i < 3; i++) await s.peerId().then(() => console.log('made'), (e) => console.log(e.code));`
    const run = spawnSync(
      'bash',
      ['-c', 'ulimit -f 0; exec "$0" --input-type=module -e "$1"', process.execPath, script],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    )
    assert.deepEqual(run.stdout.trim().split('\n'), ['E_IO', 'E_IO', 'E_IO'], run.stderr)
    assert.deepEqual(await readdir(join(root, '.p2p')), [], 'no temp file left behind')
  })

  it('lists one of two directories holding the same entry, the one a download writes into, whatever the listing order', async (t) => {
    const { dir, split } = await splitInStore(t)
    const root = join(dir, 'a', 'chunks')
    const store = new ChunkStore(root)
    // Copies made by hand, some whole, some not, named to sort before and after the entry's own.
    for (const [name, keep] of [
      ['0-copy', [0, 1, 2]],
      ['aa-copy', [1, 2]],
      ['zz-copy', [0, 1, 2]],
      ['~copy', [2]],
    ] as const) {
      await cp(split.dir, join(root, name), { recursive: true })
      for (const i of [0, 1, 2])
        if (!(keep as readonly number[]).includes(i)) await unlink(join(root, name, chunkFileName(i)))
    }
    await unlink(join(split.dir, chunkFileName(1))) // the entry's own directory is not the fullest
    const entries = await store.scan()
    assert.equal(entries.length, 1)
    assert.equal(entries[0]!.dir, split.dir, 'the directory named as the manifest says')
    assert.equal(await store.dirNameFor(split.name, split.id), basename(split.dir), 'where a download writes')
    // The server's catalog serves the same one.
    const catalog = new StoreCatalog(store)
    t.after(() => catalog.close())
    await catalog.open()
    assert.equal((await catalog.lookup(split.id))?.dir, split.dir)
    // With it gone, the first copy by name: for the scan and for the catalog.
    await rm(split.dir, { recursive: true })
    assert.equal((await store.scan())[0]!.dir, join(root, '0-copy'))
    const fresh = new StoreCatalog(store)
    t.after(() => fresh.close())
    await fresh.open()
    assert.equal((await fresh.lookup(split.id))?.dir, join(root, '0-copy'))
  })

  it('writes a download into the directory that already holds its entry, though an earlier choice is free', async (t) => {
    const { dir, split } = await splitInStore(t)
    const root = join(dir, 'a', 'chunks')
    const store = new ChunkStore(root)
    await rename(split.dir, join(root, split.id)) // stored under its id (the name was taken then)
    await mkdir(split.dir) // and the name's directory free again, empty
    assert.equal(await store.dirNameFor(split.name, split.id), split.id)
    assert.equal((await store.scan())[0]!.dir, join(root, split.id), 'the directory the scan lists')
  })

  it('announces and serves an entry whose name holds .tmp- alike (the scan and the catalog list the same)', async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'notes.tmp-1'), 5000)
    const split = await splitFile(join(dir, 'notes.tmp-1'), { store, chunkSize: 4096 })
    assert.deepEqual(
      (await store.scan()).map((e) => e.id),
      [split.id],
    )
    const catalog = new StoreCatalog(store)
    t.after(() => catalog.close())
    await catalog.open()
    assert.equal((await catalog.lookup(split.id))?.dir, split.dir)
  })

  it('keeps the manifest a download wrote as parsed: the scans during the download do not parse it again', async (t) => {
    const { dir, split, entry } = await splitInStore(t)
    const b = new ChunkStore(join(dir, 'b', 'chunks'))
    await b.init()
    // A copy of the parsed manifest, as a downloader holds it: the very object comes back, not a second parse.
    const parsed = { ...entry.manifest }
    await b.prepareEntry(entry.manifestBytes, parsed)
    assert.equal((await b.get(split.id))?.manifest, parsed)
  })

  it('keeps no more parsed manifests than a scan lists entries (entries that come and go leave none behind)', async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'kept.bin'), 5_000)
    await splitFile(join(dir, 'kept.bin'), { store, chunkSize: 4096 })
    for (let i = 0; i < 20; i++) {
      await randomFile(join(dir, `gone-${i}.bin`), 5_000)
      const split = await splitFile(join(dir, `gone-${i}.bin`), { store, chunkSize: 4096 })
      assert.equal((await store.scan()).length, 2)
      await rm(split.dir, { recursive: true })
    }
    assert.equal((await store.scan()).length, 1)
    assert.equal(store.cachedManifests, 1, 'one per entry still there')
  })

  it('never follows a symlinked entry directory: scans ignore it, a download picks the id, a linked id directory is refused (canary untouched)', async (t) => {
    const { dir, split, entry } = await splitInStore(t)
    // Store b: a complete entry reachable only through a link, and its name linked to an empty canary directory.
    await cp(split.dir, join(dir, 'outside-entry'), { recursive: true })
    await mkdir(join(dir, 'canary'))
    const b = new ChunkStore(join(dir, 'b', 'chunks'))
    await b.init()
    await symlink(join(dir, 'outside-entry'), join(b.root, 'evil'))
    await symlink(join(dir, 'canary'), join(b.root, 'a.bin'))
    assert.deepEqual(await b.scan(), [], 'an entry behind a link is not in the store')
    assert.equal(await b.readEntryManifest('evil'), undefined)
    assert.equal(await b.dirNameFor('a.bin', split.id), split.id)
    const placed = await b.prepareEntry(entry.manifestBytes, entry.manifest)
    assert.equal(placed, join(b.root, split.id))
    await rm(placed, { recursive: true })
    await symlink(join(dir, 'canary'), placed)
    assert.equal(
      await b.prepareEntry(entry.manifestBytes, entry.manifest),
      `${placed}.2`,
      'the id directory a link too: the next one',
    )
    await assert.rejects(
      b.makeEntryDir('a.bin'),
      (err) => hasCode(err, 'E_IO') && /symbolic link/.test((err as Error).message),
    )
    assert.deepEqual(await readdir(join(dir, 'canary')), [])
  })

  it('private files that are FIFOs, links or devices are never opened blocking nor followed (FAULTS.md case 43)', async (t) => {
    const { dir, store } = await emptyStore(t)
    await randomFile(join(dir, 'p.bin'), 3 * 4096)
    const split = await splitFile(join(dir, 'p.bin'), { store, chunkSize: 4096 })
    await mkdir(join(dir, 'canary'))
    await writeFile(join(dir, 'canary', 'secret'), 'do not read')
    const started = performance.now()
    // manifest.json a FIFO: the entry is ignored, the scan finishes.
    await mkdir(join(store.root, 'fifo-entry'))
    mkfifo(join(store.root, 'fifo-entry', 'manifest.json'))
    assert.deepEqual(
      (await store.scan()).map((e) => e.id),
      [split.id],
    )
    // data.have a FIFO: nothing packed.
    mkfifo(join(split.dir, 'data.have'))
    assert.equal(await readPackedHave(split.dir, 3), undefined)
    // verified/<id> a FIFO, then a link to a readable file outside: no stamps.
    await unlink(join(store.root, '.p2p', 'verified', split.id))
    mkfifo(join(store.root, '.p2p', 'verified', split.id))
    assert.deepEqual(await store.verifiedStamps(split.id), [])
    await unlink(join(store.root, '.p2p', 'verified', split.id))
    await writeFile(join(dir, 'canary', 'stamps'), '["1:2:3:4"]')
    await symlink(join(dir, 'canary', 'stamps'), join(store.root, '.p2p', 'verified', split.id))
    assert.deepEqual(await store.verifiedStamps(split.id), [])
    // peer-id a FIFO: removed and replaced by a fresh id (never opened for reading or writing).
    mkfifo(join(store.root, '.p2p', 'peer-id'))
    const id = await store.peerId()
    assert.match(id, /^[0-9a-f]{32}$/)
    assert.equal(await store.peerId(), id)
    // A lock that is a FIFO: a clear E_IO, at once (the split made the locks directory: it locks its entry).
    await mkdir(join(store.root, '.p2p', 'locks'), { recursive: true })
    mkfifo(join(store.root, '.p2p', 'locks', `${split.id}.lock`))
    await assert.rejects(
      store.lock(split.id, 'p.bin'),
      (err) => hasCode(err, 'E_IO') && /FIFO/.test((err as Error).message),
    )
    assert.ok(performance.now() - started < 10_000, 'nothing blocked')
    // .p2p/locks or .p2p itself a link: refused, nothing written through it.
    await rm(join(store.root, '.p2p', 'locks'), { recursive: true })
    await symlink(join(dir, 'canary'), join(store.root, '.p2p', 'locks'))
    await assert.rejects(
      store.lock(split.id, 'p.bin'),
      (err) => hasCode(err, 'E_IO') && /symbolic link/.test((err as Error).message),
    )
    await rm(join(store.root, '.p2p'), { recursive: true })
    await symlink(join(dir, 'canary'), join(store.root, '.p2p'))
    await assert.rejects(store.peerId(), (err) => hasCode(err, 'E_IO'))
    await store.recordVerified(split.id, split.dir, 3, 'chunks') // warns, writes nothing
    assert.deepEqual((await readdir(join(dir, 'canary'))).sort(), ['secret', 'stamps'])
    assert.equal(await readFile(join(dir, 'canary', 'secret'), 'utf8'), 'do not read')
  })

  it('the writability probe never writes through a link planted at a guessable name', async (t) => {
    const dir = await tmpDir(t)
    await mkdir(join(dir, 'chunks'))
    await writeFile(join(dir, 'victim'), 'keep me')
    await symlink(join(dir, 'victim'), join(dir, 'chunks', `.tmp-probe-${process.pid}`))
    await assertWritable(join(dir, 'chunks'), 'the chunk store')
    assert.equal(await readFile(join(dir, 'victim'), 'utf8'), 'keep me')
    assert.deepEqual(await readdir(join(dir, 'chunks')), [`.tmp-probe-${process.pid}`], 'the probe is gone')
  })
})
