import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Manifest } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { checkAnswers, pipeline, type RawClient, rawClient, until } from '../helpers/raw-client.js'

/**
 * Upload slots on a real server (upload-slots.ts): peers on other addresses
 * (127.0.0.2, .3); the server counts a peer by its address.
 */
describe('upload slots on a chunk server', () => {
  it('with one slot, a second peer is told "not now" (E_BUSY, retryMs) and keeps its connection; once the first stops asking, or its connection closes, the other is served, every byte checked; manifests are always answered', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'f.bin'), 8 * 4096 - 5)
    const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const manifests = new Map([[split.id, (await store.get(split.id))!.manifest as Manifest]])
    const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, limits: { uploadSlots: 1 } })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(50))
    const all = Array.from({ length: 8 }, (_, i) => i)

    const first = await rawClient(t, port, { localAddress: '127.0.0.2' })
    pipeline(first, split.id, all)
    assert.ok(await until(() => first.frames.length === 8))
    assert.equal(checkAnswers(first, manifests), 8)

    const second = await rawClient(t, port, { localAddress: '127.0.0.3' })
    pipeline(second, split.id, [0, 1])
    second.send({ type: 'manifest', id: split.id })
    assert.ok(await until(() => second.frames.length === 3))
    for (const f of second.frames.slice(0, 2)) {
      assert.equal(f.header.code, 'E_BUSY', JSON.stringify(f.header))
      const retryMs = Number(f.header.retryMs)
      assert.ok(retryMs >= 100 && retryMs <= 2000, `retryMs ${retryMs}`)
    }
    assert.equal(second.frames[2]!.header.type, 'manifest', 'a manifest is never "not now"')
    assert.equal(checkAnswers(second, manifests), 0)
    assert.ok(!second.closed())

    // The first peer asked nothing for over a second: its slot is free, and the second is served.
    await new Promise((r) => setTimeout(r, 1100))
    pipeline(second, split.id, all)
    assert.ok(await until(() => second.frames.length === 11))
    assert.equal(checkAnswers(second, manifests), 8)
    // And now the first is the one told "not now".
    pipeline(first, split.id, [3])
    assert.ok(await until(() => first.frames.length === 9))
    assert.equal(first.frames[8]!.header.code, 'E_BUSY')
    // The second peer's connection closes: its slot is free at once, not after a second.
    second.socket.destroy()
    assert.ok(await until(() => server.openConnections === 1))
    pipeline(first, split.id, [3])
    assert.ok(await until(() => first.frames.length === 10))
    assert.equal(first.frames[9]!.header.type, 'chunk')
    assert.equal(checkAnswers(first, manifests), 9)
    assert.equal(server.stats.notNow, 3)
    assert.equal(server.stats.errors.E_BUSY, 3)
    assert.equal(server.stats.budgetInUse, 0)
  })

  it('a full server makes room with a connection that asked only for what it does not have, never with one waiting in the upload line', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'f.bin'), 4 * 4096)
    const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const server = new ChunkServer({
      store,
      host: '127.0.0.1',
      port: 0,
      limits: { uploadSlots: 1, maxConnections: 3 },
    })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(50))
    const served = await rawClient(t, port, { localAddress: '127.0.0.2' })
    pipeline(served, split.id, [0, 1])
    assert.ok(await until(() => served.frames.length === 2))
    const waiter = await rawClient(t, port, { localAddress: '127.0.0.3' })
    pipeline(waiter, split.id, [2])
    assert.ok(await until(() => waiter.frames.length === 1))
    assert.equal(waiter.frames[0]!.header.code, 'E_BUSY', "not now: the slot is the first peer's")
    const stranger = await rawClient(t, port, { localAddress: '127.0.0.4' })
    stranger.send({ type: 'manifest', id: 'f'.repeat(64) })
    assert.ok(await until(() => stranger.frames.length === 1))
    assert.equal(stranger.frames[0]!.header.code, 'E_NOT_FOUND')
    assert.equal(server.openConnections, 3)

    const newcomer = await rawClient(t, port, { localAddress: '127.0.0.5' })
    newcomer.send({ type: 'manifest', id: split.id })
    assert.ok(await until(() => newcomer.frames.length === 1))
    assert.equal(newcomer.frames[0]!.header.type, 'manifest')
    assert.ok(await until(() => stranger.closed()), 'the one never given anything made room')
    assert.ok(!waiter.closed() && !served.closed(), 'the peer waiting in line, and the one served, keep theirs')
    assert.equal(server.stats.reclaimedUnserved, 1)
  })

  it('a "not now" says the peer\'s place in line (1: next): the same while it asks again, smaller as those ahead go', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'f.bin'), 4 * 4096)
    const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, limits: { uploadSlots: 1 } })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(50))
    const [holder, second, third] = await Promise.all(
      ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((localAddress) => rawClient(t, port, { localAddress })),
    )
    const ask = async (client: RawClient, index: number): Promise<Record<string, unknown>> => {
      client.send({ type: 'chunk', id: split.id, index })
      return (await client.next()).header
    }
    const notNow = (h: Record<string, unknown>) => ({ code: h.code, place: h.place })
    // The holder asks before each look at the line, so that its slot stays taken however slow this machine.
    assert.equal((await ask(holder, 0)).type, 'chunk')
    assert.deepEqual(notNow(await ask(second, 0)), { code: 'E_BUSY', place: 1 })
    assert.equal((await ask(holder, 1)).type, 'chunk')
    assert.deepEqual(notNow(await ask(third, 0)), { code: 'E_BUSY', place: 2 })
    assert.equal((await ask(holder, 2)).type, 'chunk')
    assert.deepEqual(notNow(await ask(third, 1)), { code: 'E_BUSY', place: 2 }, 'asking again is no way ahead')
    assert.deepEqual(notNow(await ask(second, 1)), { code: 'E_BUSY', place: 1 })
    // The holder goes: its slot is the first in line's, and the one behind it moves up.
    holder.socket.destroy()
    assert.ok(await until(() => server.openConnections === 2))
    assert.equal((await ask(second, 2)).type, 'chunk')
    assert.deepEqual(notNow(await ask(third, 2)), { code: 'E_BUSY', place: 1 })
  })
})
