import assert from 'node:assert/strict'
import { open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { sha256File } from '../helpers/files.js'
import { freeUdpPort, runDownload, seeded, startSeeder } from '../helpers/swarm.js'

/** The store entry's `data` of the one download in `client`'s store. */
async function dataOf(client: string): Promise<string> {
  const [entry] = (await readdir(join(client, 'chunks'))).filter((name) => !name.startsWith('.'))
  return join(client, 'chunks', entry!, 'data')
}

describe('a finished download run again (real processes)', () => {
  it('checks the finished file in place: no copy of it, nothing fetched; once the user edited it, a copy is checked and the file left alone', async (t) => {
    const { dir, sha } = await seeded(t, 3_000_000)
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const client = join(dir, 'client')
    const first = await runDownload(client, udp, ['f.bin'])
    assert.equal(first.code, 0, `${first.stderr}\n${first.log}`)
    const placed = join(client, 'downloads', 'f.bin')
    const inode = (await stat(placed)).ino

    // A re-run (as a `--seed` restart is): every chunk read and checked where it is.
    const again = await runDownload(client, udp, ['f.bin'])
    assert.equal(again.code, 0, `${again.stderr}\n${again.log}`)
    assert.equal(again.result?.fetchedBytes, 0)
    const data = await stat(await dataOf(client))
    assert.deepEqual(
      [data.ino, data.nlink],
      [inode, 2],
      'one file on the disk: no private copy made (a copy doubled it)',
    )
    assert.equal(await sha256File(placed), sha)

    // The user edits their file (the same inode as the store's data): it is never written into.
    const handle = await open(placed, 'r+')
    await handle.write(Buffer.from('edited'), 0, 6, 1_500_000)
    await handle.close()
    const edited = await sha256File(placed)
    const third = await runDownload(client, udp, ['f.bin'])
    assert.equal(third.code, 0, `${third.stderr}\n${third.log}`)
    assert.equal(await sha256File(placed), edited, "the user's file is left as they made it")
    assert.equal(third.result?.path, join(client, 'downloads', 'f (1).bin'))
    assert.equal(await sha256File(join(client, 'downloads', 'f (1).bin')), sha)
    assert.ok(Number(third.result?.fetchedBytes) > 0, 'the changed chunk fetched again')
    assert.match(third.log, /changed since it was downloaded/)
  })
})
