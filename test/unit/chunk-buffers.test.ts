import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ChunkBuffers } from '../../src/core/download/chunk-buffers.js'

describe('chunk buffers: only the manifest chunk size is pooled', () => {
  it('reuses chunk-sized buffers, up to the cap, and never keeps any other size', () => {
    const buffers = new ChunkBuffers(4096, 2)
    const a = buffers.take(4096)
    const b = buffers.take(4096)
    const c = buffers.take(4096)
    assert.ok(a.buffer instanceof SharedArrayBuffer, 'shared memory: the hash thread reads it without a copy')
    for (const x of [a, b, c]) buffers.give(x)
    const again = [buffers.take(4096), buffers.take(4096), buffers.take(4096)]
    assert.equal(again.filter((x) => x === a || x === b || x === c).length, 2, 'two kept (the cap), the third is new')
    // The last, shorter chunk: a one-off, never pooled.
    const last = buffers.take(100)
    assert.equal(last.length, 100)
    buffers.give(last)
    assert.notEqual(buffers.take(100), last)
  })
})
