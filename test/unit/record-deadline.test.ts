import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RecordDeadline } from '../../src/core/trust/record-deadline.js'

describe("an encrypted record's deadline (record-deadline.ts)", () => {
  it('runs from the read that began the record held: a record that came whole starts the next one afresh', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    let expired = 0
    const deadline = new RecordDeadline(500, () => expired++)
    deadline.held(true) // a record begun
    t.mock.timers.tick(400)
    deadline.held(true) // more of it, still not whole
    t.mock.timers.tick(100)
    assert.equal(expired, 1, 'whole within 500 ms of its first byte, or cut')
    const next = new RecordDeadline(500, () => expired++)
    next.held(true)
    t.mock.timers.tick(400)
    next.held(true, true) // that record came whole; the part held now is of the next
    t.mock.timers.tick(400)
    assert.equal(expired, 1, 'the next record has its own 500 ms')
    t.mock.timers.tick(100)
    assert.equal(expired, 2)
    next.stop()
  })

  it('does not run while the server itself does not read, nor once nothing is held', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    let expired = 0
    const deadline = new RecordDeadline(500, () => expired++)
    deadline.held(true)
    deadline.readingNow(false)
    t.mock.timers.tick(1000)
    assert.equal(expired, 0, 'paused by us: ours to wait for')
    deadline.readingNow(true)
    deadline.held(false)
    t.mock.timers.tick(1000)
    assert.equal(expired, 0)
  })
})
