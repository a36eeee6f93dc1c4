// A folder download's temporary tree: built privately beside the downloads, given its name when placed (never
// merged into or over what holds it), entries made through descriptors on Linux, a killed run's tree removed.
import assert from 'node:assert/strict'
import fs, { existsSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TempTree } from '../../src/core/download/temp-tree.js'
import { hasCode } from '../../src/core/errors.js'
import { sha } from '../helpers/packed-writer.js'
import { put, setup } from '../helpers/temp-tree.js'

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
})
