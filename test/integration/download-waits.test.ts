import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { download, type LivePeer, type PeerFinder } from '../../src/core/download/downloader.js'
import { planOf } from '../../src/core/item.js'
import { splitPath } from '../../src/core/split-item.js'
import { openStore } from '../../src/core/store.js'
import { createChunkServer } from '../../src/core/transfer/chunk-server.js'
import { onCleanup } from '../helpers/cleanup.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'

/**
 * A download that has ended leaves no wait for a change behind: each one's
 * timer held the process 0.1–0.25 s after every p2p-download's result (and a
 * Ctrl-C in that time killed it by the signal after it had printed success).
 */
describe('the waits of a download', () => {
  it('every wait for a change it started has ended when it resolves', async (t) => {
    const base = await tmpDir(t)
    const source = join(base, 'file.bin')
    await randomFile(source, 2 * 1024 * 1024 + 5)
    const seed = await openStore({ dir: join(base, 'seed') })
    const split = await splitPath(source, { store: seed, chunkSize: 64 * 1024 })
    const server = createChunkServer({ store: seed, host: '127.0.0.1', port: 0 })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(100))
    const chunks = planOf((await seed.get(split.id))!.manifest).chunkCount
    // The peer shows up only after a while: the manifest's fetch and the chunks' both wait for it.
    const visibleAt = Date.now() + 300
    let pending = 0
    let waits = 0
    const finder: PeerFinder = {
      peers: (): LivePeer[] =>
        Date.now() < visibleAt ? [] : [{ address: '127.0.0.1', port, have: Bitfield.full(chunks) }],
      waitForChange: (ms, signal) => {
        waits++
        pending++
        return new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer)
            pending--
            resolve()
          }
          // Longer than the download: only the signal can end these in time.
          const timer = setTimeout(done, Math.max(ms, 60_000))
          signal?.addEventListener('abort', done, { once: true })
        })
      },
    }
    const receipt = await download({
      id: split.id,
      store: await openStore({ dir: join(base, 'dl', 'chunks') }),
      downloadsDir: join(base, 'dl', 'downloads'),
      peers: finder,
    })
    assert.equal(await sha256File(receipt.path), await sha256File(source))
    assert.ok(waits > 0, 'the download waited for its peer')
    assert.equal(pending, 0, `${pending} of ${waits} waits still pending after the download resolved`)
  })
})
