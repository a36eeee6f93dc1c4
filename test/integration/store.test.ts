import assert from 'node:assert/strict'
import { mkdir, symlink, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { packedHavePath, readPackedHave, writePackedHave } from '../../src/core/packed.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore, chunkFileName } from '../../src/core/store.js'
import { randomFile, tmpDir } from '../helpers/files.js'

describe('chunk store', () => {
  it('scans entries with their have-sets, skipping temp files, symlinks and the private dir', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'a.bin'), 10_000)
    const split = await splitFile(join(dir, 'a.bin'), { store, chunkSize: 4096 })
    await unlink(join(split.dir, chunkFileName(1)))
    await writeFile(join(split.dir, `${chunkFileName(1)}.tmp-123`), 'partial')
    await symlink(join(split.dir, chunkFileName(0)), join(split.dir, chunkFileName(1)).replace('000001', '000009'))
    await mkdir(join(store.root, 'no-manifest'))
    await writeFile(join(store.root, 'no-manifest', chunkFileName(0)), 'x')
    const entries = await store.scan()
    assert.equal(entries.length, 1)
    assert.equal(entries[0]!.id, split.id)
    assert.deepEqual(entries[0]!.have.indices(), [0, 2])
    assert.equal((await store.get(split.id))?.name, 'a.bin')
    assert.equal(await store.get('0'.repeat(64)), undefined)
  })

  it('adds what a packed data.have lists, and ignores a data.have of the wrong length or with spare bits set', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'p.bin'), 5 * 4096)
    const split = await splitFile(join(dir, 'p.bin'), { store, chunkSize: 4096 })
    for (const i of [1, 2, 3, 4]) await unlink(join(split.dir, chunkFileName(i)))
    const have = new Bitfield(5)
    have.set(3)
    await writePackedHave(split.dir, have)
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0, 3], 'chunk files and packed chunks together')
    await writeFile(packedHavePath(split.dir), Buffer.from([0xff, 0xff])) // 2 bytes for 5 chunks
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0])
    await writeFile(packedHavePath(split.dir), Buffer.from([0xff])) // bits past chunk 4 set
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0])
    assert.equal(await readPackedHave(split.dir, 5), undefined)
    await unlink(packedHavePath(split.dir))
    await symlink('/dev/zero', packedHavePath(split.dir)) // never followed (and never read without bound)
    assert.deepEqual((await store.get(split.id))?.have.indices(), [0])
  })

  it('ignores an invalid manifest instead of failing the scan', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await mkdir(join(store.root, 'junk'))
    await writeFile(join(store.root, 'junk', 'manifest.json'), '{"version":1}')
    assert.deepEqual(await store.scan(), [])
  })

  it('names an entry by its id when the name holds different content', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'same'), 5000)
    const first = await splitFile(join(dir, 'same'), { store, chunkSize: 4096 })
    assert.equal(await store.dirNameFor('same', first.id), 'same')
    const other = 'f'.repeat(64)
    assert.equal(await store.dirNameFor('same', other), other)
    assert.equal(await store.dirNameFor('fresh', other), 'fresh')
    assert.equal(await store.dirNameFor('../evil', other), other)
  })

  it('keeps one stable peer id per store', async (t) => {
    const dir = await tmpDir(t)
    const a = new ChunkStore(join(dir, 'a'))
    await a.init()
    const id = await a.peerId()
    assert.match(id, /^[0-9a-f]{32}$/)
    assert.equal(await new ChunkStore(join(dir, 'a')).peerId(), id)
    const b = new ChunkStore(join(dir, 'b'))
    await b.init()
    assert.notEqual(await b.peerId(), id)
  })
})
