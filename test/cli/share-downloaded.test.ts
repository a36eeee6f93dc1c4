import assert from 'node:assert/strict'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { sha256File } from '../helpers/files.js'
import { freeUdpPort, runDownload, seeded, startSeeder, storeArgs } from '../helpers/swarm.js'

/**
 * A file downloaded, then shared again from downloads/ (p2p-split or p2p share of it): the download is a hard link
 * to its store's `data`, and the split wrote every chunk again beside it, a second copy of the file in the store
 * (a UX audit: 382 MB became 764 MB). Now it is "already split", nothing written; an edited one is split anew.
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
})
