import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { cp, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TempTree } from '../../src/core/download/temp-tree.js'
import type { FolderEntry, FolderIndex } from '../../src/core/download/tree-fill.js'
import { hasCode } from '../../src/core/errors.js'
import { placeSetup } from '../helpers/place.js'

/** Filling in a part of a folder already at its final name (tree-fill.ts), on real directories. */

const sha = (data: string): string => createHash('sha256').update(data).digest('hex')

/** The whole folder: `run.sh` (executable), `d/`, `d/a.txt`, `d/e/`, `d/e/b.txt`. */
const FILES: Record<string, [string, boolean]> = {
  'run.sh': ['#!/bin/sh\n', true],
  'd/a.txt': ['hello', false],
  'd/e/b.txt': ['deeper', false],
}
const DIRS = ['d', 'd/e']

const WHOLE: Record<string, FolderEntry> = Object.fromEntries([
  ...DIRS.map((d) => [d, { dir: true } as const]),
  ...Object.entries(FILES).map(([p, [c, exec]]) => [p, { dir: false, size: c.length, exec }]),
])
const index: FolderIndex = (local) => WHOLE[local]

async function setup(t: Parameters<typeof placeSetup>[0]) {
  const { entry, downloads, options } = await placeSetup(t)
  /** The tree of the chosen paths (their directories made too), as a download builds it. */
  const build = async (chosen: string[]): Promise<TempTree> => {
    const tree = await TempTree.create(options)
    for (const dir of DIRS) if (chosen.some((p) => p.startsWith(`${dir}/`))) tree.addDir(dir)
    for (const path of chosen) {
      const [content, exec] = FILES[path]!
      await tree.addWrittenFile(path, exec, { size: content.length, sha256: sha(content) }, async (fd) => {
        fs.writeSync(fd, content)
      })
    }
    return tree
  }
  return { downloads, album: join(downloads, 'album'), build, placedRecord: join(entry, 'tree.placed') }
}

const listing = async (root: string) => (await readdir(root, { recursive: true })).sort()

describe('filling in a part of the folder at its name', () => {
  it('adds the missing files and directories, keeping what is there by inode', async (t) => {
    const { downloads, album, build } = await setup(t)
    await (await build(['d/a.txt'])).place()
    const kept = (await stat(join(album, 'd/a.txt'))).ino
    const placed = await (await build(['run.sh', 'd/a.txt', 'd/e/b.txt'])).place(undefined, index)
    assert.equal(placed.path, album)
    assert.equal(placed.filledIn, 3, 'run.sh, d/e and d/e/b.txt')
    assert.equal(placed.alreadyThere, false)
    assert.deepEqual(await listing(album), ['d', 'd/a.txt', 'd/e', 'd/e/b.txt', 'run.sh'])
    assert.equal((await stat(join(album, 'd/a.txt'))).ino, kept)
    assert.equal(await readFile(join(album, 'd/e/b.txt'), 'utf8'), 'deeper')
    assert.ok((await stat(join(album, 'run.sh'))).mode & 0o100, 'its exec bit')
    assert.deepEqual(await readdir(downloads), ['album'], 'the temporary tree is gone')
    // Without the folder's index (a file's download, a caller not asking) nothing is filled in.
    await (await build(['run.sh'])).place()
    assert.deepEqual((await readdir(downloads)).sort(), ['album', 'album (1)'])
  })

  it('a chosen part already whole is already there; entries not chosen are left as they are', async (t) => {
    const { album, build } = await setup(t)
    await (await build(['run.sh', 'd/a.txt', 'd/e/b.txt'])).place()
    const placed = await (await build(['d/e/b.txt'])).place(undefined, index)
    assert.deepEqual([placed.path, placed.alreadyThere, placed.filledIn], [album, true, 0])
    assert.deepEqual(await listing(album), ['d', 'd/a.txt', 'd/e', 'd/e/b.txt', 'run.sh'])
  })

  it('a link where the folder has an entry is not a part of it: "album (1)", the link untouched', async (t) => {
    const { downloads, album, build } = await setup(t)
    await (await build(['d/a.txt'])).place()
    const outside = join(downloads, '..', 'outside')
    await mkdir(outside)
    await symlink(outside, join(album, 'd', 'e'))
    const placed = await (await build(['run.sh', 'd/a.txt', 'd/e/b.txt'])).place(undefined, index)
    assert.equal(placed.path, join(downloads, 'album (1)'))
    assert.deepEqual(await readdir(outside), [], 'nothing written through the link')
  })

  it('something put at a missing entry meanwhile stops it, E_EXISTS, and is never replaced', async (t) => {
    const { downloads, album, build } = await setup(t)
    await (await build(['d/a.txt'])).place()
    const tree = await build(['run.sh', 'd/a.txt'])
    // Asked of `d` once the top directory was read: run.sh appears there after the look, before the filling.
    const racing: FolderIndex = (local) => {
      if (local === 'd') fs.writeFileSync(join(album, 'run.sh'), 'mine')
      return index(local)
    }
    await assert.rejects(tree.place(undefined, racing), (err) => hasCode(err, 'E_EXISTS'))
    assert.equal(await readFile(join(album, 'run.sh'), 'utf8'), 'mine')
    await tree.discard() // as the download does when placing fails
    assert.deepEqual(await readdir(downloads), ['album'])
  })

  it('only the very folder this item placed: not a copy of it, nor one its record no longer names', async (t) => {
    const { downloads, album, build, placedRecord } = await setup(t)
    await (await build(['d/a.txt'])).place()
    // The same entries, bytes and modes, but another directory (a user's copy, another item's download).
    await rename(album, join(downloads, 'moved'))
    await cp(join(downloads, 'moved'), album, { recursive: true })
    const copy = await (await build(['run.sh', 'd/a.txt'])).place(undefined, index)
    assert.equal(copy.path, join(downloads, 'album (1)'))
    await rm(copy.path, { recursive: true })
    await rm(album, { recursive: true })
    await rename(join(downloads, 'moved'), album)
    await writeFile(placedRecord, '{"dev":"1","ino":"2","birthNs":"3"}')
    const other = await (await build(['run.sh', 'd/a.txt'])).place(undefined, index)
    assert.equal(other.path, join(downloads, 'album (1)'), 'a record naming another directory')
    await rm(other.path, { recursive: true })
    // Its device and inode but another birth: a directory made later that got the removed one's inode number.
    const st = await stat(album, { bigint: true })
    const reused = { dev: String(st.dev), ino: String(st.ino), birthNs: String(st.birthtimeNs + 1n) }
    await writeFile(placedRecord, JSON.stringify(reused))
    const later = await (await build(['run.sh', 'd/a.txt'])).place(undefined, index)
    assert.equal(later.path, join(downloads, 'album (1)'), 'an inode number used again')
  })

  it('the part placed at "album (1)" (the name was taken) is the one filled in', async (t) => {
    const { downloads, build } = await setup(t)
    await mkdir(join(downloads, 'album'), { recursive: true })
    await writeFile(join(downloads, 'album', 'mine.txt'), 'mine')
    const part = await (await build(['d/a.txt'])).place(undefined, index)
    assert.equal(part.path, join(downloads, 'album (1)'))
    const rest = await (await build(['run.sh', 'd/a.txt'])).place(undefined, index)
    assert.deepEqual([rest.path, rest.filledIn], [part.path, 1])
    assert.deepEqual(await readdir(join(downloads, 'album')), ['mine.txt'])
    assert.deepEqual((await readdir(downloads)).sort(), ['album', 'album (1)'])
  })

  it('a temporary tree or folder renamed away and replaced meanwhile is neither read from nor written into', async (t) => {
    const { downloads, album, build } = await setup(t)
    await (await build(['d/a.txt'])).place()
    const tree = await build(['run.sh', 'd/a.txt', 'd/e/b.txt'])
    // Asked of `d` during the look: both trees swapped for look-alikes with other bytes at the missing paths.
    const racing: FolderIndex = (local) => {
      if (local === 'd') {
        fs.renameSync(tree.root, join(downloads, '..', 'temp-away'))
        fs.mkdirSync(join(tree.root, 'd', 'e'), { recursive: true })
        fs.writeFileSync(join(tree.root, 'run.sh'), 'planted', { mode: 0o755 })
        fs.renameSync(album, join(downloads, '..', 'album-away'))
        fs.mkdirSync(album)
      }
      return index(local)
    }
    await assert.rejects(
      tree.place(undefined, racing),
      (err) => hasCode(err, 'E_IO') && /was replaced/.test(String(err)),
    )
    const away = join(downloads, '..', 'album-away')
    assert.equal(await readFile(join(away, 'run.sh'), 'utf8'), '#!/bin/sh\n', 'our bytes, from our tree')
    assert.equal(await readFile(join(away, 'd/e/b.txt'), 'utf8'), 'deeper')
    assert.deepEqual(await readdir(album), [], 'nothing written into what took the name')
    // The temporary tree, renamed away, was emptied through its descriptor: no second link left on a file.
    assert.deepEqual(await readdir(join(downloads, '..', 'temp-away')), [])
    assert.equal((await stat(join(away, 'run.sh'))).nlink, 1)
  })
})
