import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DhtKeys,
  GONE_FOR_MS,
  MAX_DHT_PEERS,
  MAX_DIAL_FAILURES,
  MAX_GONE_PEERS,
  NOT_FOUND_FOR_MS,
} from '../../src/core/download/dht-keys.js'

/** A download's DHT keys under any order of lookups, dials that fail (and why), answers and time passing. */
const op = fc.oneof(
  fc.record({ kind: fc.constant('take' as const), key: fc.nat(200) }),
  fc.record({
    kind: fc.constant('fail' as const),
    key: fc.nat(200),
    why: fc.constantFrom(undefined, 'unknown' as const, 'silent' as const),
  }),
  fc.record({ kind: fc.constant('answer' as const), key: fc.nat(200) }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 300_000 }) }),
)

describe('DhtKeys (the keys a download found on the DHT)', () => {
  it('never more than 64 kept; a dropped key stays out for its hold and comes back after; 3 plain failures or 1 "no seeder" drop it', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        let now = 0
        const keys = new DhtKeys(() => now)
        const ids = (n: number): string => `K${n}`
        // Our own model of when each key may be taken again, and how often it was dropped.
        const heldUntil = new Map<string, number>()
        const drops = new Map<string, number>()
        for (const o of ops) {
          if (o.kind === 'wait') now += o.ms
          else if (o.kind === 'take') {
            const id = ids(o.key)
            const had = keys.get(id) !== undefined
            const room = keys.size < MAX_DHT_PEERS
            const taken = keys.take(randomBytes(32), id)
            assert.equal(taken, !had && room && now >= (heldUntil.get(id) ?? 0))
          } else {
            const found = keys.get(ids(o.key))
            if (!found) continue
            if (o.kind === 'answer') {
              keys.answered(found)
              continue
            }
            const before = found.failures
            const outcome = keys.failed(found, o.why)
            const dropped = o.why !== undefined || before + 1 >= MAX_DIAL_FAILURES
            assert.equal(outcome === 'dropped', dropped)
            if (dropped) {
              const times = (drops.get(found.peerId) ?? 0) + 1
              drops.set(found.peerId, times)
              heldUntil.set(found.peerId, now + (o.why ? NOT_FOUND_FOR_MS : GONE_FOR_MS) * 4 ** (times - 1))
              assert.equal(keys.get(found.peerId), undefined)
              assert.ok(keys.droppedWithin(0))
              assert.equal(keys.failed(found), undefined, 'a key dropped is no longer ours')
            } else {
              assert.equal(outcome, 1000 * 2 ** before)
              assert.ok(!keys.offerable().includes(found), 'not offered before its retry')
            }
          }
          assert.ok(keys.size <= MAX_DHT_PEERS)
          for (const p of keys.offerable()) assert.ok(p.failures < MAX_DIAL_FAILURES && p.retryAt <= now)
        }
      }),
      { numRuns: 300 },
    )
  })

  it(`remembers at most ${MAX_GONE_PEERS} dropped keys, the oldest dropped going first`, () => {
    const keys = new DhtKeys(() => 0)
    for (let i = 0; i < MAX_GONE_PEERS + 10; i++) {
      assert.ok(keys.take(randomBytes(32), `K${i}`))
      keys.failed(keys.get(`K${i}`)!, 'unknown')
    }
    assert.equal(keys.goneCount, MAX_GONE_PEERS)
    assert.ok(keys.take(randomBytes(32), 'K0'), 'the oldest dropped was let go')
    assert.ok(!keys.take(randomBytes(32), `K${MAX_GONE_PEERS + 9}`), 'the newest dropped is still held out')
  })
})
