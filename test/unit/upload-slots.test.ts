import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { UploadSlots } from '../../src/core/transfer/upload-slots.js'

const limits = { slots: 2, turnMs: 5000, idleMs: 1000, staleMs: 3000 }

describe('upload slots (upload-slots.ts)', () => {
  it('serves the first peers up to the slots, tells the next "not now" until a turn ends, then hands the slot on in line order', () => {
    const slots = new UploadSlots(limits)
    assert.equal(slots.request('a', 0), 0)
    assert.equal(slots.request('b', 10), 0)
    const wait = slots.request('c', 20)
    assert.ok(wait >= 100 && wait <= 2000, `told to wait ${wait} ms`)
    assert.ok(slots.request('d', 30) > 0)
    // All keep asking (within idleMs and staleMs); a and b, within their turn, are still served.
    for (let t = 500; t <= 4500; t += 500) {
      assert.equal(slots.request('a', t), 0)
      assert.equal(slots.request('b', t), 0)
      assert.ok(slots.request('d', t) > 0, 'd asks before c each time: the line decides, not who asks first')
      assert.ok(slots.request('c', t + 1) > 0, 'no slot is free yet')
    }
    // a's turn is over while c and d wait: a goes to the back of the line, its slot to c (first in line).
    assert.ok(slots.request('a', 5001) > 0)
    assert.ok(slots.request('d', 5002) > 0, 'd is behind c')
    assert.equal(slots.request('c', 5003), 0)
    assert.ok(slots.request('b', 5010) > 0, "b's turn is over too: its slot goes to d")
    assert.equal(slots.request('d', 5020), 0)
    assert.deepEqual([slots.holding, slots.waiting], [2, 2])
  })

  it('tells a waiter its place in line (1: next), which shrinks as the line moves and never grows while it keeps asking', () => {
    const slots = new UploadSlots(limits)
    slots.request('a', 0)
    slots.request('b', 0)
    for (const [i, peer] of ['c', 'd', 'e'].entries()) assert.ok(slots.request(peer, 10 + i) > 0)
    assert.deepEqual(
      ['a', 'c', 'd', 'e'].map((p) => slots.placeOf(p)),
      [undefined, 1, 2, 3],
      'a holder is in no line',
    )
    for (let t = 500; t < 5000; t += 500) for (const p of ['a', 'b', 'c', 'd', 'e']) slots.request(p, t)
    assert.deepEqual(
      ['c', 'd', 'e'].map((p) => slots.placeOf(p)),
      [1, 2, 3],
      'nobody got ahead by asking',
    )
    // a's turn ends: c takes its slot, a goes to the back; d and e move up.
    assert.ok(slots.request('a', 5000) > 0)
    assert.equal(slots.request('c', 5001), 0)
    assert.deepEqual(
      ['c', 'd', 'e', 'a'].map((p) => slots.placeOf(p)),
      [undefined, 1, 2, 3],
    )
    slots.leave('d')
    assert.deepEqual(
      ['e', 'a'].map((p) => slots.placeOf(p)),
      [1, 2],
      'a peer gone: those behind it move up',
    )
  })

  it('when at most `slots` peers ask, nobody is ever told "not now", however long they ask', () => {
    const slots = new UploadSlots(limits)
    for (let t = 0; t < 60_000; t += 50) {
      assert.equal(slots.request('a', t), 0)
      assert.equal(slots.request('b', t + 1), 0)
    }
  })

  it('a holder that stops asking gives its slot up after idleMs; a waiter that stops asking leaves the line', () => {
    const slots = new UploadSlots(limits)
    slots.request('a', 0)
    slots.request('b', 0)
    assert.ok(slots.request('c', 100) > 0)
    assert.ok(slots.request('gone', 150) > 0) // in line behind c, then never asks again
    slots.request('b', 900)
    assert.equal(slots.request('c', 1100), 0, "a asked nothing for 1 s: its slot is c's")
    assert.ok(slots.request('d', 1200) > 0)
    for (let t = 1300; t < 5000; t += 200) {
      slots.request('b', t)
      slots.request('c', t)
      slots.request('d', t + 1)
      if (t >= 4000) assert.ok(slots.request('e', t + 2) > 0)
    }
    assert.ok(!slots.isHolding('gone'))
    assert.deepEqual([slots.holding, slots.waiting], [2, 2], "b and c hold; d and e wait ('gone' left the line)")
    // b's turn (since 0) is over: d is first in line, not e.
    assert.ok(slots.request('b', 5000) > 0)
    assert.equal(slots.request('e', 5001) > 0, true)
    assert.equal(slots.request('d', 5002), 0)
  })

  it('property: never more holders than slots; a peer served holds a slot; every peer that keeps asking is served within its place in line', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.tuple(fc.nat(11), fc.integer({ min: 0, max: 400 })), { minLength: 1, maxLength: 300 }),
        (slotCount, peerCount, steps) => {
          const l = { ...limits, slots: slotCount }
          const slots = new UploadSlots(l)
          let now = 0
          for (const [p, dt] of steps) {
            now += dt
            const peer = `p${p % peerCount}`
            const wait = slots.request(peer, now)
            assert.ok(slots.holding <= slotCount)
            assert.equal(wait === 0, slots.isHolding(peer))
            if (wait > 0) assert.ok(wait >= 100 && wait <= 2000)
          }
          // Then every peer asks every 100 ms: each is served within (its place in line + 1) turns, and a
          // waiter's place (told with each "not now") never grows until it is served.
          const served = new Set<string>()
          const placed = new Map<string, number>()
          const bound = now + (Math.ceil(peerCount / slotCount) + 1) * l.turnMs + 2 * l.idleMs
          for (; now < bound && served.size < peerCount; now += 100)
            for (let p = 0; p < peerCount; p++) {
              const peer = `p${p}`
              if (slots.request(peer, now + p) === 0) {
                served.add(peer)
                placed.delete(peer)
                continue
              }
              const place = slots.placeOf(peer)
              assert.ok(place !== undefined && place >= 1 && place <= peerCount, `${peer} told place ${place}`)
              if (!served.has(peer)) assert.ok(place <= (placed.get(peer) ?? place), `${peer}: place grew`)
              placed.set(peer, place)
            }
          assert.equal(served.size, peerCount, `served ${served.size} of ${peerCount} within ${bound} ms`)
        },
      ),
      { numRuns: 300 },
    )
  })
})
