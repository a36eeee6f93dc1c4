import assert from 'node:assert/strict'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { download } from '../../src/core/download/downloader.js'
import { planOf } from '../../src/core/item.js'
import { splitPath } from '../../src/core/split-item.js'
import { openStore } from '../../src/core/store.js'
import { createChunkServer } from '../../src/core/transfer/chunk-server.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'
import { makeTree, type TreeSpec, treeListing } from '../helpers/tree-files.js'

/** A folder split into one store and served; downloads into other stores through the API, from that one peer. */
async function servedFolder(t: Cleanup, base: string, make: (root: string) => Promise<void>) {
  const folder = join(base, 'src', 'tree')
  await make(folder)
  const store = await openStore({ dir: join(base, 'seed') })
  const split = await splitPath(folder, { store, chunkSize: 4096 })
  const server = createChunkServer({ store, host: '127.0.0.1', port: 0 })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(100))
  const manifest = (await store.get(split.id))!.manifest
  const peer = { address: '127.0.0.1', port, have: Bitfield.full(planOf(manifest).chunkCount) }
  const peers = {
    peers: () => [peer],
    waitForChange: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 50))),
  }
  const fetch = async (dir: string, extra: { signal?: AbortSignal } = {}) =>
    download({
      id: split.id,
      store: await openStore({ dir: join(dir, 'chunks') }),
      downloadsDir: join(dir, 'downloads'),
      peers,
      ...extra,
    })
  return { folder, split, fetch }
}

describe('folder downloads through the API', () => {
  it('a folder of only directories (no chunk at all)', async (t) => {
    const base = await tmpDir(t)
    const s = await servedFolder(t, base, (root) => makeTree(root, { 'a/b/c/': 0, 'a/d/': 0, 'e/': 0 }))
    assert.equal(s.split.chunks, 0)
    const r = await s.fetch(join(base, 'd'))
    assert.deepEqual(await treeListing(r.path), await treeListing(s.folder))
    assert.deepEqual(await treeListing(r.path), ['a/', 'a/b/', 'a/b/c/', 'a/d/', 'e/'])
  })

  it('10,000 small files, byte-identical file by file', async (t) => {
    const base = await tmpDir(t)
    const spec: TreeSpec = {}
    for (let i = 0; i < 10_000; i++) spec[`d${i % 50}/f${i}.txt`] = `${i}`.repeat(1 + (i % 7))
    const s = await servedFolder(t, base, (root) => makeTree(root, spec))
    const r = await s.fetch(join(base, 'd'))
    assert.equal(r.files?.length, 10_000)
    assert.deepEqual(await treeListing(r.path), await treeListing(s.folder))
  })

  it('stopped mid-way: no tree left in downloads/; the next run resumes and completes', async (t) => {
    const base = await tmpDir(t)
    const s = await servedFolder(t, base, async (root) => {
      for (let i = 0; i < 200; i++) {
        await mkdir(join(root, `d${i % 4}`), { recursive: true })
        await writeFile(join(root, `d${i % 4}`, `f${i}`), Buffer.alloc(5000 + i, i))
      }
    })
    const stop = new AbortController()
    const first = s.fetch(join(base, 'd'), { signal: stop.signal })
    // Stopped once some chunks are in the store (event-driven: polled on the store, bounded).
    const store = await openStore({ dir: join(base, 'd', 'chunks') })
    for (const deadline = Date.now() + 60_000; ((await store.scan())[0]?.have.count() ?? 0) < 20; ) {
      assert.ok(Date.now() < deadline, 'chunks stored within 60 s')
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    stop.abort(new Error('stop'))
    await assert.rejects(first)
    assert.deepEqual(await readdir(join(base, 'd', 'downloads')), [], 'the temporary tree removed')
    const r = await s.fetch(join(base, 'd'))
    assert.ok(r.resumedBytes > 0, `resumed ${r.resumedBytes}`)
    assert.deepEqual(await treeListing(r.path), await treeListing(s.folder))
  })
})
