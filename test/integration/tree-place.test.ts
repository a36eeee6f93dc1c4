import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { chmod, link, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TempTree } from '../../src/core/download/temp-tree.js'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { placeSetup } from '../helpers/place.js'

/**
 * What a folder download finds at its final name, and what it places there
 * (tree-place.ts, tree-local.ts): found by an attacker pass on folders.
 */

const sha = (data: string): string => createHash('sha256').update(data).digest('hex')

const setup = placeSetup

/** The folder `run.sh` (executable) and `d/a.txt`, as a download builds it. */
async function build(options: Awaited<ReturnType<typeof setup>>['options']): Promise<TempTree> {
  const tree = await TempTree.create(options)
  tree.addDir('d')
  for (const [path, content, exec] of [
    ['run.sh', '#!/bin/sh\n', true],
    ['d/a.txt', 'hello', false],
  ] as const)
    await tree.addWrittenFile(path, exec, { size: content.length, sha256: sha(content) }, async (fd) => {
      fs.writeSync(fd, content)
    })
  return tree
}

describe('placing a folder', () => {
  it('takes a folder at the name for this one only when it holds exactly its entries, with their exec bits', async (t) => {
    const { downloads, options } = await setup(t)
    const first = await build(options)
    await first.place()
    const again = await build(options)
    assert.equal((await again.place()).alreadyThere, true, 'a re-run finds its own folder')

    await writeFile(join(downloads, 'album', 'evil.sh'), 'planted')
    const extra = await (await build(options)).place()
    assert.deepEqual([extra.path, extra.alreadyThere], [join(downloads, 'album (1)'), false], 'an extra file: not ours')

    await rm(join(downloads, 'album', 'evil.sh'))
    const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o7777
    const run = join(downloads, 'album', 'run.sh')
    const a = join(downloads, 'album', 'd', 'a.txt')
    const [runMode, aMode] = [await modeOf(run), await modeOf(a)] // as this umask makes them
    await chmod(run, runMode & ~0o111)
    const lost = await (await build(options)).place()
    assert.deepEqual(
      [lost.path, lost.alreadyThere],
      [join(downloads, 'album (2)'), false],
      'an exec bit lost: not ours',
    )
    await chmod(run, runMode)
    assert.equal((await (await build(options)).place()).alreadyThere, true, 'as it was: ours again')
    const album = join(downloads, 'album')
    const stricter = [album, join(album, 'd'), run, a] // as a run under umask 077 made them
    const modes = await Promise.all(stricter.map(modeOf))
    for (const [i, path] of stricter.entries()) await chmod(path, modes[i]! & 0o700)
    assert.equal((await (await build(options)).place()).alreadyThere, true, 'made under a stricter umask: ours')
    for (const [i, path] of stricter.entries()) await chmod(path, modes[i]!)

    await chmod(a, aMode | 0o002)
    const open = await (await build(options)).place()
    assert.deepEqual([open.path, open.alreadyThere], [join(downloads, 'album (3)'), false], 'writable by all: not ours')
    await chmod(a, aMode)
    await link(join(downloads, 'album', 'd', 'a.txt'), join(downloads, 'outside.txt'))
    const linked = await (await build(options)).place()
    assert.deepEqual(
      [linked.path, linked.alreadyThere],
      [join(downloads, 'album (4)'), false],
      'a second link: not ours',
    )
  })

  it("takes back the empty claim a run killed before its rename left at the name; never an empty folder of the user's", async (t) => {
    const { downloads, options } = await setup(t)
    await mkdir(downloads)
    await mkdir(join(downloads, 'album'), { mode: 0o1000 }) // as the killed run claimed it
    const placed = await (await build(options)).place()
    assert.deepEqual([placed.path, placed.alreadyThere], [join(downloads, 'album'), false])
    assert.deepEqual((await readdir(join(downloads, 'album'))).sort(), ['d', 'run.sh'])
    assert.deepEqual(await readdir(downloads), ['album'], 'no "album (1)" beside it')

    await mkdir(join(downloads, 'mine'))
    const theirs = { ...options, name: 'mine' }
    const beside = await (await build(theirs)).place()
    assert.equal(beside.path, join(downloads, 'mine (1)'), "an empty folder the user made is the user's")
    assert.deepEqual(await readdir(join(downloads, 'mine')), [])
  })

  it('the check of a folder already at the name hears the signal: stopped, neither taken as ours nor placed as "(1)"', async (t) => {
    const { downloads, options } = await setup(t)
    await (await build(options)).place()
    const again = await build(options)
    const controller = new AbortController()
    // Aborted once every entry was checked unchanged: the next work is the check of the folder at the name.
    const unchanged = again.assertUnchanged.bind(again)
    again.assertUnchanged = (slot: number): void => {
      unchanged(slot)
      if (slot === again.made.count - 1) controller.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT'))
    }
    // Before, the check ran on (20,000 files hashed: 33 s deaf to Ctrl-C) and the run reported the folder there.
    await assert.rejects(again.place(controller.signal), (err) => hasCode(err, 'E_INTERRUPTED'))
    assert.ok(!(await readdir(downloads)).includes('album (1)'))
    await again.discard() // the builder's part, once placing failed
  })

  it('never places a file removed and made again in the temporary tree, though it got its inode back', async (t) => {
    const { downloads, options } = await setup(t)
    const tree = await build(options)
    const path = join(tree.root, 'd', 'a.txt')
    await rm(path)
    await writeFile(path, 'REPLACED!') // ext4 hands the freed inode out again at once
    await assert.rejects(tree.place(), (err) => hasCode(err, 'E_IO'))
    assert.ok(!(await readdir(downloads)).includes('album'), 'nothing placed under the name')
    assert.notEqual(await readFile(path, 'utf8').catch(() => ''), 'hello')
  })

  it("removes a killed run's temporary tree though the next run downloads into another directory", async (t) => {
    const { downloads, options } = await setup(t)
    const killed = await build(options) // a run killed: its tree left in downloads/, named in the record
    const elsewhere = `${downloads}-2`
    await (await build({ ...options, downloadsDir: elsewhere })).place()
    assert.deepEqual(await readdir(downloads), [], `${killed.root} removed`)
    assert.deepEqual(await readdir(elsewhere), ['album'])
  })

  it('a record pointed at another directory of the right name, or through a linked parent, removes nothing', async (t) => {
    const { downloads, options } = await setup(t)
    const victim = join(downloads, '..', 'victim')
    await mkdir(join(victim, 'album.part-0123456789ab', 'keep'), { recursive: true })
    await symlink(victim, join(downloads, '..', 'linked'))
    for (const dir of [victim, join(downloads, '..', 'linked')]) {
      await writeFile(options.recordPath, `album.part-0123456789ab\n${dir}\n1 2`)
      await (await build(options)).discard()
      await writeFile(options.recordPath, `album.part-0123456789ab\n${dir}`)
      await (await build(options)).discard()
    }
    assert.deepEqual(await readdir(join(victim, 'album.part-0123456789ab')), ['keep'])
    // A record of the name alone (an earlier version's) proves nothing ours: another run's tree stays.
    await mkdir(join(downloads, 'album.part-ba9876543210', 'theirs'), { recursive: true })
    await writeFile(options.recordPath, 'album.part-ba9876543210')
    await (await build(options)).discard()
    assert.deepEqual(await readdir(join(downloads, 'album.part-ba9876543210')), ['theirs'])
  })
})
