import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sizeClass } from '../../src/core/buffer-pool.js'
import { ChunkBuffers } from '../../src/core/download/chunk-buffers.js'

describe('chunk buffers: pooled by size class', () => {
  it('reuses buffers, up to the cap; a shorter chunk is a view of a pooled buffer', () => {
    const buffers = new ChunkBuffers(4096, 2)
    const a = buffers.take(4096)
    const b = buffers.take(4096)
    const c = buffers.take(4096)
    assert.ok(!(a.buffer instanceof SharedArrayBuffer), 'ordinary memory: decrypted into without a copy')
    for (const x of [a, b, c]) buffers.give(x)
    const again = [buffers.take(4096), buffers.take(4096), buffers.take(4096)]
    assert.equal(again.filter((x) => x === a || x === b || x === c).length, 2, 'two kept (the cap), the third is new')
    for (const x of again) buffers.give(x)
    // A folder's short chunks: views of pooled memory, returned to the pool.
    const short = buffers.take(100)
    assert.equal(short.length, 100)
    buffers.give(short)
    const next = buffers.take(3000)
    assert.equal(next.buffer, short.buffer, 'the same memory, reused')
    assert.equal(next.length, 3000)
    // A buffer not from the pool (or a view not at its start) is never kept.
    buffers.give(Buffer.alloc(4096))
    buffers.give(next.subarray(1))
    assert.notEqual(buffers.take(4096).buffer, next.buffer)
  })

  it('size classes are powers of two from 4 KiB, never smaller than the size', () => {
    for (const size of [1, 4096, 4097, 65_536, 65_537, 1_000_000, 2 ** 26])
      assert.ok(sizeClass(size) >= size && sizeClass(size) >= 4096 && Number.isInteger(Math.log2(sizeClass(size))))
    assert.equal(sizeClass(1 << 20), 1 << 20)
  })
})
