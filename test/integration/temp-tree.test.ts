import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs, { existsSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { release } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TempTree, YIELD_EVERY } from '../../src/core/download/temp-tree.js'
import { expectFilesystemSync, filesystemSyncFor, syncFilesystem } from '../../src/core/download/tree-durable.js'
import { TreeBuilder } from '../../src/core/download/tree-writer.js'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { EMPTY_SHA256 } from '../../src/core/tree-manifest.js'
import { tmpDir } from '../helpers/files.js'

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

/** Every entry under `dir`: path, type, size, mode and SHA-256, sorted. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const rel of await readdir(dir, { recursive: true })) {
    const st = await lstat(join(dir, rel))
    const mode = (st.mode & 0o777).toString(8)
    out.push(
      st.isDirectory()
        ? `${rel}/ ${mode}`
        : `${rel} ${st.size} ${mode} ${st.isFile() ? sha(await readFile(join(dir, rel))).slice(0, 12) : 'not a file'}`,
    )
  }
  return out.sort()
}

async function setup(t: Parameters<typeof tmpDir>[0]) {
  const base = await tmpDir(t)
  const store = join(base, 'chunks')
  const entry = join(store, 'album')
  await mkdir(entry, { recursive: true })
  const downloads = join(base, 'downloads')
  const options = { downloadsDir: downloads, name: 'album', recordPath: join(entry, 'tree.part'), storeRoot: store }
  return { base, store, entry, downloads, options }
}

/** A file of the folder written into the tree as a download writes it. */
function put(tree: TempTree, path: string, content: string): Promise<void> {
  return tree.addWrittenFile(path, false, { size: Buffer.byteLength(content), sha256: sha(content) }, async (fd) => {
    fs.writeSync(fd, content)
  })
}

describe('temporary tree of a folder download', () => {
  it('builds the folder, unportable names made portable, and gives it its name', async (t) => {
    const { downloads, options } = await setup(t)
    const a = 'hello'
    const b = 'world!'
    const tree = await TempTree.create({ ...options, syncFilesystem: false })
    assert.ok(tree.root.startsWith(join(downloads, 'album.part-')))
    assert.equal((await stat(tree.root)).mode & 0o777, 0o700, 'private while built')
    tree.addDir('docs')
    tree.addDir('docs/empty')
    tree.addDir('sample é 🎉')
    await put(tree, 'docs/a:b.txt', a)
    await put(tree, 'sample é 🎉/CON', b)
    tree.addEmptyFile('run.sh', true)
    tree.addEmptyFile('zero', false)
    const placed = await tree.place()
    assert.deepEqual(
      placed,
      {
        path: join(downloads, 'album'),
        alreadyThere: false,
        filledIn: 0,
        durable: { filesystem: false, files: 0, dirs: 3 },
      },
      'root, docs, sample (each file synced as it was written)',
    )
    assert.deepEqual(await listing(placed.path), [
      'docs/ 755',
      'docs/a_b.txt 5 644 2cf24dba5fb0',
      'docs/empty/ 755',
      'run.sh 0 755 e3b0c44298fc',
      'sample é 🎉/ 755',
      'sample é 🎉/CON_ 6 644 711e9609339e',
      'zero 0 644 e3b0c44298fc',
    ])
    assert.equal((await stat(placed.path)).mode & 0o777, 0o755)
    assert.deepEqual(await readdir(downloads), ['album'], 'no temporary tree left')
    assert.equal(existsSync(options.recordPath), false, 'record removed')
  })

  it('never merges into or replaces what holds the name: a directory, a file, a link to elsewhere', async (t) => {
    const { base, downloads, options } = await setup(t)
    const a = 'hello'
    const elsewhere = join(base, 'elsewhere')
    await mkdir(elsewhere)
    await writeFile(join(elsewhere, 'canary'), 'untouched')
    await mkdir(join(downloads, 'album'), { recursive: true })
    await writeFile(join(downloads, 'album', 'mine.txt'), 'mine')
    await writeFile(join(downloads, 'album (1)'), 'a file')
    await symlink(elsewhere, join(downloads, 'album (2)'))
    await mkdir(join(downloads, 'album (3)')) // empty: still not ours to replace
    const tree = await TempTree.create(options)
    await put(tree, 'a', a)
    const placed = await tree.place()
    assert.equal(placed.path, join(downloads, 'album (4)'))
    assert.deepEqual(await readdir(join(downloads, 'album')), ['mine.txt'])
    assert.deepEqual(await readdir(elsewhere), ['canary'])
    assert.deepEqual(await readdir(join(downloads, 'album (3)')), [])
    assert.equal(await readFile(join(elsewhere, 'canary'), 'utf8'), 'untouched')
  })

  it('keeps an identical folder already at the name (a re-run) and removes the temporary one', async (t) => {
    const { downloads, options } = await setup(t)
    const a = 'hello'
    const first = await TempTree.create(options)
    first.addDir('d')
    await put(first, 'd/a', a)
    await first.place()
    const second = await TempTree.create({ ...options, syncFilesystem: false })
    second.addDir('d')
    await put(second, 'd/a', a)
    assert.deepEqual(await second.place(), {
      path: join(downloads, 'album'),
      alreadyThere: true,
      filledIn: 0,
      durable: { filesystem: false, files: 0, dirs: 2 },
    })
    assert.deepEqual(await readdir(downloads), ['album'])
  })

  it('makes entries through directory descriptors on Linux, by checked paths elsewhere', async (t) => {
    const { options } = await setup(t)
    const tree = await TempTree.create({ ...options, syncFilesystem: false })
    assert.equal(tree.anchored, process.platform === 'linux')
    const byPath = await TempTree.create({ ...options, syncFilesystem: false, anchored: false })
    assert.equal(byPath.anchored, false)
    await Promise.all([tree.discard(), byPath.discard()])
  })

  it('makes a tree of more directories than it keeps open, with descriptors closed once placed (Linux)', {
    skip: process.platform !== 'linux' && 'descriptors are for Linux',
  }, async (t) => {
    const { base, downloads, options } = await setup(t)
    const openNow = (): number => fs.readdirSync('/proc/self/fd').length
    const before = openNow()
    const tree = await TempTree.create({ ...options, syncFilesystem: false })
    const deep = Array.from({ length: 40 }, (_, i) => `deep${'/d'.repeat(i)}`)
    const wide = Array.from({ length: 100 }, (_, i) => `w${i}`)
    for (const dir of [...deep, ...wide]) tree.addDir(dir)
    assert.ok(openNow() - before <= 33, `at most 32 directories and the root open: ${openNow() - before}`)
    // Files into every directory, the first ones long evicted, some written at once.
    await Promise.all([...deep, ...wide].map((dir) => put(tree, `${dir}/f`, dir)))
    assert.ok(openNow() - before <= 33, `still at most 33: ${openNow() - before}`)
    // A directory evicted long ago, swapped for a link to elsewhere: reopened through its parent, refused.
    const outside = join(base, 'outside')
    await mkdir(outside)
    await rename(join(tree.root, 'w0'), join(base, 'w0-away'))
    await symlink(outside, join(tree.root, 'w0'))
    await assert.rejects(put(tree, 'w0/g', 'x'), (err: unknown) => hasCode(err, 'E_IO') && /replaced/.test(err.message))
    assert.deepEqual(await readdir(outside), [])
    await rm(join(tree.root, 'w0'))
    await rename(join(base, 'w0-away'), join(tree.root, 'w0'))
    const placed = await tree.place()
    assert.equal(openNow(), before, 'every descriptor closed')
    assert.equal(await readFile(join(placed.path, deep[39]!, 'f'), 'utf8'), deep[39])
    assert.equal(await readFile(join(placed.path, 'w99', 'f'), 'utf8'), 'w99')
    assert.throws(
      () => tree.addDir('late'),
      (err: unknown) => hasCode(err, 'E_INTERNAL'),
    )
    assert.ok((await readdir(downloads)).includes('album'))
  })

  it('words a failure to write a file as the write’s own, in both ways, never as a swap', async (t) => {
    const { options } = await setup(t)
    for (const anchored of [true, false]) {
      const tree = await TempTree.create({ ...options, syncFilesystem: false, anchored })
      await assert.rejects(
        tree.addWrittenFile('a', false, { size: 1, sha256: sha('a') }, async () => {
          throw Object.assign(new Error('ENOENT: gone while read'), { code: 'ENOENT', path: '/somewhere/data' })
        }),
        (err: unknown) => hasCode(err, 'E_NOT_FOUND') && !/replaced/.test(err.message) && !/proc/.test(err.message),
        `anchored: ${anchored}`,
      )
      await tree.discard()
    }
  })

  // Anchored (the default on Linux), an entry is made in the directory the tree made, wherever it was moved, and
  // never through a link; placing then finds the swap. By path, the check before each create stops the download.
  for (const anchored of process.platform === 'linux' ? [true, false] : [false]) {
    const mode = anchored ? 'through descriptors' : 'by checked paths'
    const rejectsOrMakes = async (made: Promise<void>, what: string): Promise<void> => {
      if (anchored) await made
      else await assert.rejects(made, (err: unknown) => hasCode(err, 'E_IO') && /replaced/.test(err.message), what)
    }

    it(`never follows a link planted inside the temporary tree mid-download (${mode})`, async (t) => {
      const { base, options } = await setup(t)
      const outside = join(base, 'outside')
      await mkdir(outside)
      const tree = await TempTree.create({ ...options, anchored })
      tree.addDir('sub')
      await rm(join(tree.root, 'sub'), { recursive: true })
      await symlink(outside, join(tree.root, 'sub'))
      // Anchored, the removed directory takes nothing: ENOENT, reported as the swap it is.
      await assert.rejects(
        put(tree, 'sub/a', 'hello'),
        (err: unknown) => hasCode(err, 'E_IO') && /replaced/.test(err.message),
      )
      assert.throws(
        () => tree.addDir('sub/deeper'),
        (err: unknown) => hasCode(err, 'E_IO'),
      )
      assert.deepEqual(await readdir(outside), [], 'nothing written through the link')
      await assert.rejects(tree.place(), (err: unknown) => hasCode(err, 'E_IO'))
    })

    it(`never writes through a directory above the parent moved away and replaced by a link (${mode})`, async (t) => {
      const { base, options } = await setup(t)
      const outside = join(base, 'outside')
      const target = join(base, 'target')
      await mkdir(outside)
      await mkdir(target)
      const tree = await TempTree.create({ ...options, anchored })
      tree.addDir('a')
      tree.addDir('a/b')
      // a/b keeps its device and inode: only the chain above it shows the link, which leads elsewhere.
      await rename(join(tree.root, 'a'), join(outside, 'a'))
      await mkdir(join(target, 'b'))
      await symlink(target, join(tree.root, 'a'))
      await rejectsOrMakes(put(tree, 'a/b/f', 'hello'), 'the file')
      await rejectsOrMakes(
        Promise.resolve().then(() => tree.addEmptyFile('a/b/g', false)),
        'the empty file',
      )
      assert.deepEqual(await readdir(join(target, 'b')), [], 'nothing written through the link')
      assert.deepEqual(await readdir(join(outside, 'a', 'b')), anchored ? ['f', 'g'] : [], 'only into the tree’s own')
      await assert.rejects(tree.place(), (err: unknown) => hasCode(err, 'E_IO'))
    })

    it(`never writes through a link planted at the entry’s own name (${mode})`, async (t) => {
      const { base, options } = await setup(t)
      const outside = join(base, 'outside-file')
      await writeFile(outside, 'untouched')
      const tree = await TempTree.create({ ...options, anchored })
      tree.addDir('d')
      await symlink(outside, join(tree.root, 'd', 'a'))
      await assert.rejects(
        put(tree, 'd/a', 'EVIL'),
        (err: unknown) => (hasCode(err, 'E_IO') || hasCode(err, 'E_EXISTS')) && !/\/proc\//.test(err.message),
      )
      assert.throws(() => tree.addEmptyFile('d/a', false))
      assert.equal(await readFile(outside, 'utf8'), 'untouched', 'nothing written through the link')
    })

    it(`stops with E_IO when a directory it made is moved away, nothing put in its place (${mode})`, async (t) => {
      const { base, options } = await setup(t)
      const tree = await TempTree.create({ ...options, anchored })
      tree.addDir('d')
      await rename(join(tree.root, 'd'), join(base, 'd-away'))
      await rejectsOrMakes(put(tree, 'd/a', 'hello'), 'the file')
      await assert.rejects(tree.place(), (err: unknown) => hasCode(err, 'E_IO') && /replaced/.test(err.message))
    })

    it(`never follows a link put in place of the temporary tree itself (${mode})`, async (t) => {
      const { base, downloads, options } = await setup(t)
      const outside = join(base, 'outside')
      await mkdir(outside)
      const tree = await TempTree.create({ ...options, anchored })
      const away = join(downloads, 'moved-away')
      await rename(tree.root, away)
      await symlink(outside, tree.root)
      await rejectsOrMakes(put(tree, 'a', 'hello'), 'the file')
      await assert.rejects(tree.place(), (err: unknown) => hasCode(err, 'E_IO'))
      await tree.discard()
      assert.deepEqual(await readdir(outside), [])
      assert.deepEqual(await readdir(away), anchored ? ['a'] : [], 'only into the tree’s own root')
      assert.ok((await lstat(tree.root)).isSymbolicLink(), 'a link that is not ours is left alone')
    })
  }

  it('removes the temporary tree a killed run left, and only that', async (t) => {
    const { base, downloads, options } = await setup(t)
    const a = 'hello'
    const killed = await TempTree.create(options)
    await put(killed, 'a', a)
    const fresh = await TempTree.create(options) // as the next run does
    assert.equal(existsSync(killed.root), false)
    // A record naming a link, or a path out of downloads/: nothing is removed through it.
    const outside = join(base, 'outside')
    await mkdir(outside)
    await writeFile(join(outside, 'canary'), 'x')
    await fresh.discard()
    await symlink(outside, join(downloads, 'album.part-linked'))
    await writeFile(options.recordPath, 'album.part-linked')
    await (await TempTree.create(options)).discard()
    await writeFile(options.recordPath, '../outside')
    await (await TempTree.create(options)).discard()
    assert.deepEqual(await readdir(outside), ['canary'])
  })

  it('syncs each directory that received entries once, not every directory (2,000 empty ones: one fsync)', async (t) => {
    const { downloads, options } = await setup(t)
    const tree = await TempTree.create({ ...options, syncFilesystem: false })
    for (let i = 0; i < 2000; i++) tree.addDir(`e${String(i).padStart(4, '0')}`)
    for (const path of ['a', 'a/b', 'a/b/c', 'a/b/empty.txt']) {
      if (path.endsWith('.txt')) tree.addEmptyFile(path, false)
      else tree.addDir(path)
    }
    const placed = await tree.place()
    assert.equal(placed.durable.dirs, 3, 'the root, a and a/b; never an empty directory (2,000 of them, and c)')
    assert.equal((await readdir(join(downloads, 'album'))).length, 2001)
  })

  it('makes written files durable by one filesystem sync, not a sync each; each file and directory when it fails', async (t) => {
    const realFdatasync = fs.fdatasync
    let eachSynced = 0
    fs.fdatasync = ((...args: Parameters<typeof fs.fdatasync>) => {
      eachSynced++
      return realFdatasync(...args)
    }) as typeof fs.fdatasync
    syncBuiltinESMExports()
    t.after(() => {
      fs.fdatasync = realFdatasync
      syncBuiltinESMExports()
    })
    const cases = [
      { filesystem: true, expect: { eachSynced: 0, durable: { filesystem: true, files: 0, dirs: 0 } } },
      { filesystem: false, expect: { eachSynced: 0, durable: { filesystem: false, files: 3, dirs: 2 } } },
      { filesystem: undefined, expect: { eachSynced: 3, durable: { filesystem: false, files: 0, dirs: 2 } } },
    ]
    for (const { filesystem, expect } of cases) {
      const { downloads, options } = await setup(t)
      const asked: string[] = []
      const syncFilesystem =
        filesystem === undefined
          ? (false as const)
          : async (path: string) => {
              asked.push(path)
              return filesystem
            }
      const tree = await TempTree.create({ ...options, syncFilesystem })
      tree.addDir('d')
      eachSynced = 0
      for (const [i, path] of ['a', 'd/b', 'd/c'].entries()) {
        const content = `file ${i}`
        await put(tree, path, content)
      }
      tree.addEmptyFile('d/empty', false)
      const placed = await tree.place()
      assert.deepEqual({ eachSynced, durable: placed.durable }, expect, `filesystem sync: ${filesystem}`)
      assert.deepEqual(asked, filesystem === undefined ? [] : [tree.root], 'one filesystem sync, of the tree')
      assert.equal(await readFile(join(downloads, 'album', 'd', 'c'), 'utf8'), 'file 2')
    }
  })

  it('syncs a filesystem with `sync -f` only where it is trusted (Linux 5.17 on, local filesystems)', async (t) => {
    const EXT4 = 0xef53
    assert.equal(expectFilesystemSync('linux', '5.17.0', EXT4), true)
    assert.equal(expectFilesystemSync('linux', '6.18.44-fc-v782', 0x58465342), true, 'xfs')
    assert.equal(
      expectFilesystemSync('linux', '5.16.20', EXT4),
      false,
      "before 5.17 syncfs dropped the filesystem's errors",
    )
    assert.equal(expectFilesystemSync('linux', '4.19.0', EXT4), false)
    assert.equal(expectFilesystemSync('linux', '6.1.0', 0x65735546), false, 'FUSE: syncfs may not reach the server')
    assert.equal(expectFilesystemSync('darwin', '23.1.0', EXT4), false)
    const base = await tmpDir(t)
    // A `sync` that never ends: an abort rejects at once, without waiting for it.
    const stuck = join(base, 'stuck-sync')
    await writeFile(stuck, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 })
    const stop = new AbortController()
    setTimeout(() => stop.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT')), 100)
    const started = performance.now()
    await assert.rejects(syncFilesystem(base, stop.signal, stuck), (err) => hasCode(err, 'E_INTERRUPTED'))
    assert.ok(performance.now() - started < 5000, 'rejected at once')
    assert.equal(await syncFilesystem(base, undefined, join(base, 'no-such-sync')), false, 'a missing command')
    const sync = await filesystemSyncFor(base)
    if (sync === undefined) return t.skip(`no trusted filesystem sync for ${base} on ${process.platform} ${release()}`)
    assert.equal(await sync(base), true)
    assert.equal(await sync(join(base, 'missing')), false)
  })

  it('never names a root swapped while the filesystem sync ran, nor a file swapped while it was written', async (t) => {
    const { base, downloads, options } = await setup(t)
    // The root, or a directory in it, replaced by another holding other bytes while the tree is being synced.
    for (const swapped of ['', 'd']) {
      const tree = await TempTree.create({
        ...options,
        syncFilesystem: async (root: string) => {
          await rename(join(root, swapped), join(base, `moved-away${swapped}`))
          await mkdir(join(root, swapped))
          await writeFile(join(root, swapped, 'a'), 'EVIL tree')
          return true
        },
      })
      tree.addDir('d')
      await put(tree, 'd/a', 'good')
      await assert.rejects(tree.place(), (err) => hasCode(err, 'E_IO'), `swapped: "${swapped}"`)
      assert.deepEqual(
        (await readdir(downloads)).filter((name) => !name.startsWith('album.part-')),
        [],
        'nothing has the final name',
      )
    }

    // A file swapped while it is written: found once it is written (by path), or when the tree is placed.
    for (const anchored of [true, false]) {
      const second = await TempTree.create({ ...options, syncFilesystem: false, anchored })
      const written = second.addWrittenFile('b', false, { size: 4, sha256: sha('good') }, async (fd) => {
        fs.writeSync(fd, 'good')
        await rename(join(second.root, 'b'), join(base, `b-away-${anchored}`))
        await writeFile(join(second.root, 'b'), 'EVIL')
      })
      if (second.anchored) {
        await written
        await assert.rejects(second.place(), (err) => hasCode(err, 'E_IO'))
      } else await assert.rejects(written, (err) => hasCode(err, 'E_IO'))
      assert.ok(!(await readdir(downloads)).includes('album'), 'nothing has the final name')
      await second.discard()
    }
  })

  it('stops placing when the signal aborts (between batches of checks), leaving nothing at the final name', async (t) => {
    const { downloads, options } = await setup(t)
    const tree = await TempTree.create(options)
    for (let i = 0; i < 5000; i++) tree.addDir(`e${String(i).padStart(4, '0')}`)
    const stop = new AbortController()
    setImmediate(() => stop.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT')))
    await assert.rejects(tree.place(stop.signal), (err) => hasCode(err, 'E_INTERRUPTED'))
    assert.ok(!(await readdir(downloads)).includes('album'), 'no final name claimed')
    await tree.discard()
    assert.deepEqual(await readdir(downloads), [])
  })
})

const realOpenSync = fs.openSync

describe('building a folder of many empty files', () => {
  it('lets the event loop turn while 30,000 empty files are made (at least once per YIELD_EVERY), and stops on abort', async (t) => {
    const base = await tmpDir(t)
    const entryDir = join(base, 'chunks', 'entry')
    await mkdir(entryDir, { recursive: true })
    const count = 30_000
    const entries = Array.from({ length: count }, (_, i) => ({
      path: `e${String(i).padStart(5, '0')}`,
      size: 0,
      chunks: [],
      sha256: EMPTY_SHA256,
    }))
    const manifest = { version: 2 as const, name: 'empties', chunkSize: 16384, entries }
    const options = {
      ...{ manifest, id: 'x', downloadsDir: join(base, 'downloads'), entryDir },
      ...{ read: async () => undefined, readSync: () => undefined },
    }
    // Counted in files made between two turns of the event loop, not in milliseconds: a loaded machine
    // stretches the time between turns, not what is done in one. Every empty file is one openSync.
    let sinceTurn = 0
    let most = 0
    let made = 0
    fs.openSync = ((...args: Parameters<typeof fs.openSync>) => {
      made++
      most = Math.max(most, ++sinceTurn)
      return realOpenSync(...args)
    }) as typeof fs.openSync
    syncBuiltinESMExports()
    let onTurn = (): void => undefined
    let stopped = false
    const spin = (): void => {
      if (stopped) return
      sinceTurn = 0
      onTurn()
      setImmediate(spin)
    }
    setImmediate(spin)
    try {
      const builder = await TreeBuilder.start(options)
      t.diagnostic(`at most ${most} files made between two turns of the event loop (${count} in all)`)
      assert.ok(most > 0, 'the files were counted')
      assert.ok(most <= 2 * YIELD_EVERY, `${most} files were made without letting the event loop turn`)
      await builder.abandon()
      // Ctrl-C while the files are made: stop at the next breather, remove the temporary tree.
      const stop = new AbortController()
      made = 0
      onTurn = () => {
        if (made >= 1000 && !stop.signal.aborted) stop.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT'))
      }
      await assert.rejects(TreeBuilder.start({ ...options, signal: stop.signal }), (err) =>
        hasCode(err, 'E_INTERRUPTED'),
      )
    } finally {
      stopped = true
      fs.openSync = realOpenSync
      syncBuiltinESMExports()
    }
    assert.deepEqual(await readdir(join(base, 'downloads')), [], 'the temporary tree removed')
  })
})
