// The temporary tree against a local process that swaps what it holds: links planted in it or in its place,
// directories moved away, the root or a file swapped while the tree is synced or the file written.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { lstat, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TempTree } from '../../src/core/download/temp-tree.js'
import { hasCode } from '../../src/core/errors.js'
import { sha } from '../helpers/packed-writer.js'
import { put, setup } from '../helpers/temp-tree.js'

describe('temporary tree of a folder download', () => {
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
})
