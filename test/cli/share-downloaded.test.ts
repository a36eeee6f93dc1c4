import assert from 'node:assert/strict'
import { copyFile, cp, mkdir, open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { sha256File, tmpDir } from '../helpers/files.js'
import { freeUdpPort, runDownload, seeded, split, startSeeder, storeArgs } from '../helpers/swarm.js'
import { ALBUM, ALBUM_CHUNK, makeTree } from '../helpers/tree-files.js'

async function chunkFiles(entry: string): Promise<string[]> {
  return (await readdir(entry)).filter((f) => f.endsWith('.chunk'))
}

/**
 * A file downloaded, then shared again from downloads/ (p2p-split or p2p share of it): the download is a hard link
 * to its store's `data`, and the split wrote every chunk again beside it, a second copy of the file in the store
 * (a UX audit: 382 MB became 764 MB). Now it is "already split", nothing written; an edited one is split anew.
 * A copy of it, or of a downloaded folder, is the content its entry's `data` holds: nothing written either; an
 * edited one refused without --force leaves no chunk file (it left those before its first changed chunk).
 */
describe('a downloaded file shared again', () => {
  it('is already split: nothing written beside its data; edited since, its bytes are hashed and it is not', async (t) => {
    const { dir, sha } = await seeded(t, 700_000)
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['f.bin'])
    assert.equal(r.code, 0, r.stderr + r.log)
    const path = r.result?.path as string
    assert.equal(await sha256File(path), sha)
    const store = storeArgs(join(dir, 'd'))
    const again = await runBin('p2p-split', [path, '--json', ...store])
    assert.equal(again.code, 0, again.stderr)
    const result = JSON.parse(again.stdout) as { id: string; unchanged: boolean }
    assert.deepEqual([result.id, result.unchanged], [r.result?.id, true])
    const entry = (await readdir(join(dir, 'd', 'chunks', 'f.bin'))).sort()
    assert.deepEqual(
      entry.filter((f) => f.endsWith('.chunk')),
      [],
      `no chunk file beside data: ${entry.join(', ')}`,
    )
    // Edited through the link: the store's data is the edited bytes too, and not taken for the manifest's.
    const handle = await open(path, 'r+')
    await handle.write(Buffer.from('edited'), 0, 6, 1000)
    await handle.close()
    const edited = await runBin('p2p-split', [path, '--json', '--force', ...store])
    assert.equal(edited.code, 0, edited.stderr)
    const split = JSON.parse(edited.stdout) as { id: string; unchanged: boolean }
    assert.ok(split.id !== r.result?.id && !split.unchanged, edited.stdout)
  })

  it('a copy is the content data holds; edited and refused, it leaves no chunk file beside data', async (t) => {
    const { dir, sha } = await seeded(t, 700_000) // three chunks of 256 KiB
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['f.bin'])
    assert.equal(r.code, 0, r.stderr + r.log)
    const path = r.result?.path as string
    const store = storeArgs(join(dir, 'd'))
    const entry = join(dir, 'd', 'chunks', 'f.bin')
    await mkdir(join(dir, 'copy'))
    await copyFile(path, join(dir, 'copy', 'f.bin'))
    const chunkSize = ['--chunk-size', '256KiB'] // another is refused, naming this one
    const copied = await runBin('p2p-split', [join(dir, 'copy', 'f.bin'), '--json', ...chunkSize, ...store])
    assert.equal(copied.code, 0, copied.stderr)
    const result = JSON.parse(copied.stdout) as { id: string; unchanged: boolean }
    assert.deepEqual([result.id, result.unchanged], [r.result?.id, true])
    assert.deepEqual(await chunkFiles(entry), [])
    // Its last chunk edited: the first two are the manifest's, the third is not.
    const handle = await open(path, 'r+')
    await handle.write(Buffer.from('edited'), 0, 6, 600_000)
    await handle.close()
    const edited = await runBin('p2p-split', [path, ...chunkSize, ...store])
    assert.equal(edited.code, 2, edited.stderr)
    assert.match(edited.stderr, /E_EXISTS/)
    assert.deepEqual(await chunkFiles(entry), [])
    assert.equal(await sha256File(join(dir, 'copy', 'f.bin')), sha)
  })

  it('a copy of a downloaded folder is the content its data holds: nothing written beside it', async (t) => {
    const dir = await tmpDir(t)
    const folder = join(dir, 'src', 'album')
    await makeTree(folder, ALBUM)
    await split(join(dir, 's0'), folder, ['--chunk-size', String(ALBUM_CHUNK)])
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 's0'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['album'])
    assert.equal(r.code, 0, r.stderr + r.log)
    await cp(r.result?.path as string, join(dir, 'copy', 'album'), { recursive: true })
    const again = await runBin('p2p-split', [
      join(dir, 'copy', 'album'),
      '--json',
      '--chunk-size',
      String(ALBUM_CHUNK),
      ...storeArgs(join(dir, 'd')),
    ])
    assert.equal(again.code, 0, again.stderr)
    const result = JSON.parse(again.stdout) as { id: string; unchanged: boolean }
    assert.deepEqual([result.id, result.unchanged], [r.result?.id, true])
    assert.deepEqual(await chunkFiles(join(dir, 'd', 'chunks', 'album')), [])
  })
})
