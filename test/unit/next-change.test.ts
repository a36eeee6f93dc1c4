import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { nextChange } from '../../src/core/download/next-change.js'

describe("a peer finder's wait for a change (nextChange)", () => {
  it('ends on a change, on an abort (already given or later) and after its time, leaving no listener behind', async () => {
    const emitter = new EventEmitter()
    const long = 60_000
    const changed = nextChange(emitter, long)
    emitter.emit('change')
    await changed
    const stop = new AbortController()
    const stopped = nextChange(emitter, long, stop.signal)
    stop.abort()
    await stopped
    await nextChange(emitter, long, AbortSignal.abort())
    const started = performance.now()
    await nextChange(emitter, 20)
    assert.ok(performance.now() - started >= 19, 'waited its time')
    assert.equal(emitter.listenerCount('change'), 0)
  })
})
