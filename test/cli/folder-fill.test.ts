import assert from 'node:assert/strict'
import { appendFile, chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tmpDir } from '../helpers/files.js'
import { freeUdpPort, runDownload, split, startSeeder } from '../helpers/swarm.js'
import { ALBUM, ALBUM_CHUNK, makeTree, treeListing } from '../helpers/tree-files.js'

interface FolderReceipt {
  path: string
  alreadyThere: boolean
  filledIn?: number
  files: Array<{ path: string }>
}

async function seeded(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const folder = join(dir, 'src', 'album')
  await makeTree(folder, ALBUM)
  await split(join(dir, 's0'), folder, ['--chunk-size', String(ALBUM_CHUNK)])
  await startSeeder(t, join(dir, 's0'), udp)
  const get = async (at: string, extra: string[]) => {
    const r = await runDownload(join(dir, at), udp, ['album', ...extra])
    assert.equal(r.code, 0, `${r.stderr}\n${r.log}`)
    return { receipt: r.result as unknown as FolderReceipt, stdout: r.stdout }
  }
  return { dir, folder, get }
}

describe('a folder fetched in part, then again: the copy at its name is filled in (real processes)', () => {
  it('a later download adds what an earlier --only left out, in place, changing nothing there', async (t) => {
    const { dir, folder, get } = await seeded(t)
    const first = await get('d', ['--only', 'a/b/**', '--only', '*.sh'])
    const album = join(dir, 'd', 'downloads', 'album')
    assert.equal(first.receipt.path, album)
    const deepBefore = await stat(join(album, 'a/b/c/deep.bin'))
    // Another part: what is there and not chosen now stays, what is chosen is added.
    const second = await get('d', ['--only', 'été/**'])
    assert.equal(second.receipt.path, album)
    assert.equal(second.receipt.filledIn, 2, 'été/ and its file')
    const all = await get('d', [])
    assert.equal(all.receipt.path, album, 'not "album (1)"')
    assert.equal(all.receipt.alreadyThere, false)
    assert.ok((all.receipt.filledIn ?? 0) > 0)
    assert.deepEqual(await treeListing(album), await treeListing(folder), 'every byte, mode and entry')
    assert.deepEqual(await readdir(join(dir, 'd', 'downloads')), ['album'], 'no temporary tree or second copy')
    assert.equal((await stat(join(album, 'a/b/c/deep.bin'))).ino, deepBefore.ino, 'a file there is kept, not replaced')
    // A part of what is there, asked for again: nothing to add.
    const again = await get('d', ['--only', 'run.sh'])
    assert.equal(again.receipt.path, album)
    assert.equal(again.receipt.alreadyThere, true)
    assert.equal(again.receipt.filledIn, undefined)
  })

  it('a folder there that is not a part of this one goes untouched: the download is "album (1)"', async (t) => {
    const { dir, folder, get } = await seeded(t)
    await get('d', ['--only', 'a/**'])
    const album = join(dir, 'd', 'downloads', 'album')
    // Each of these makes the copy there not this folder's part.
    const cases: Array<[string, () => Promise<void>, () => Promise<void>]> = [
      [
        'a file of the user’s own',
        () => writeFile(join(album, 'notes.txt'), 'mine'),
        async () => assert.equal(await readFile(join(album, 'notes.txt'), 'utf8'), 'mine'),
      ],
      [
        'a file of the folder, edited',
        () => appendFile(join(album, 'a/one chunk.txt'), '!'),
        async () => assert.equal(await readFile(join(album, 'a/one chunk.txt'), 'utf8'), 'hello!'),
      ],
      ['a directory writable by others', () => chmod(join(album, 'a'), 0o777), async () => undefined],
    ]
    for (const [what, change, unchanged] of cases) {
      const before = await treeListing(album)
      await change()
      const changed = await treeListing(album)
      const r = await get('d', [])
      assert.equal(r.receipt.path, join(dir, 'd', 'downloads', 'album (1)'), what)
      assert.deepEqual(await treeListing(r.receipt.path), await treeListing(folder), what)
      assert.deepEqual(await treeListing(album), changed, `${what}: nothing added there`)
      await unchanged()
      // Back as it was, the next case on a true part again.
      await rm(r.receipt.path, { recursive: true })
      if (what.startsWith('a file of the user')) await rm(join(album, 'notes.txt'))
      if (what.startsWith('a file of the folder')) await writeFile(join(album, 'a/one chunk.txt'), 'hello')
      if (what.startsWith('a directory')) await chmod(join(album, 'a'), 0o755)
      assert.deepEqual(await treeListing(album), before, what)
    }
  })
})
