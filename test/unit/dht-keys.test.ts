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
  MAX_NAMED,
  NO_SEEDER_FOR_MS,
} from '../../src/core/download/dht-keys.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'

/** A download's DHT keys under any order of lookups, dials that fail (and why), answers and time passing. */
// Keys: a few hit again and again (their failures, answers and holds), and many (the 64 places filling).
const key = fc.oneof(fc.nat(5), fc.nat(150))
const op = fc.oneof(
  fc.record({ kind: fc.constant('take' as const), key }),
  fc.record({
    kind: fc.constant('fail' as const),
    key,
    why: fc.constantFrom(undefined, 'unknown' as const, 'silent' as const, 'oversized' as const, 'violation' as const),
  }),
  fc.record({ kind: fc.constant('answer' as const), key }),
  fc.record({ kind: fc.constant('giveUp' as const), key, lacking: fc.boolean() }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 300_000 }) }),
)

describe('DhtKeys (the keys a download found on the DHT)', () => {
  it('agrees with a model of its own: 64 kept at most, retries after 1, 2 s, dropped at 3 plain failures or 1 "no seeder" or when given up, held out (x 4 each time again), answers resetting failures', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400, size: 'large' }), (ops) => {
        let now = 0
        const keys = new DhtKeys(() => now)
        const ids = (n: number): string => `K${n}`
        // The model: kept keys (failures, when offered again), when a dropped key may come back, drops per key.
        const kept = new Map<string, { failures: number; retryAt: number }>()
        const heldUntil = new Map<string, number>()
        const drops = new Map<string, number>()
        for (const o of ops) {
          const id = o.kind === 'wait' ? '' : ids(o.key)
          if (o.kind === 'wait') now += o.ms
          else if (o.kind === 'take') {
            const expected = !kept.has(id) && kept.size < MAX_DHT_PEERS && now >= (heldUntil.get(id) ?? 0)
            assert.equal(keys.take(randomBytes(32), id), expected)
            if (expected) kept.set(id, { failures: 0, retryAt: 0 })
          } else if (o.kind === 'giveUp') {
            // Banned, written off or lacking the item: its place goes at once, whatever its failures.
            const expected = kept.has(id)
            assert.equal(keys.gaveUp(id, o.lacking), expected)
            if (expected) {
              kept.delete(id)
              const times = (drops.get(id) ?? 0) + 1
              drops.set(id, times)
              heldUntil.set(id, now + (o.lacking ? NO_SEEDER_FOR_MS : GONE_FOR_MS) * 4 ** (times - 1))
            }
          } else {
            const found = keys.get(id)
            const model = kept.get(id)
            assert.equal(found !== undefined, model !== undefined)
            if (!found || !model) continue
            if (o.kind === 'answer') {
              keys.answered(found)
              model.failures = 0
              continue
            }
            const outcome = keys.failed(found, o.why)
            model.failures++
            model.retryAt = now + 1000 * 2 ** (model.failures - 1)
            if (o.why !== undefined || model.failures >= MAX_DIAL_FAILURES) {
              assert.equal(outcome, 'dropped')
              kept.delete(id)
              const times = (drops.get(id) ?? 0) + 1
              drops.set(id, times)
              heldUntil.set(
                id,
                now + (o.why === 'unknown' || o.why === 'silent' ? NO_SEEDER_FOR_MS : GONE_FOR_MS) * 4 ** (times - 1),
              )
              assert.ok(keys.droppedWithin(0))
              assert.equal(keys.failed(found), undefined, 'a key dropped is no longer ours')
            } else assert.equal(outcome, 1000 * 2 ** (model.failures - 1))
          }
          assert.equal(keys.size, kept.size)
          const due = [...kept].filter(([, k]) => k.retryAt <= now).map(([key]) => key)
          assert.deepEqual(
            keys
              .offerable()
              .map((p) => p.peerId)
              .sort(),
            due.sort(),
            'offered: exactly the keys due',
          )
        }
      }),
      { numRuns: 300 },
    )
  })

  it('a key the user named is taken beyond the 64 places, and held out like any other once dropped', () => {
    let now = 0
    const keys = new DhtKeys(() => now)
    for (let i = 0; i < MAX_DHT_PEERS; i++) assert.ok(keys.take(randomBytes(32), `K${i}`))
    assert.ok(!keys.take(randomBytes(32), 'K-more'), 'full')
    assert.ok(keys.take(randomBytes(32), 'SEEDER', true), 'a flood does not keep out the seeder a link names')
    assert.equal(keys.get('SEEDER')?.named, true)
    assert.equal(keys.failed(keys.get('SEEDER')!, 'unknown'), 'dropped')
    assert.ok(!keys.take(randomBytes(32), 'SEEDER', true), 'held out')
    now += NO_SEEDER_FOR_MS
    assert.ok(keys.take(randomBytes(32), 'SEEDER', true), 'back once its hold is over')
  })

  it('a named key a lookup took first is still named; one that answered, or that `usable` refuses, is named no more', () => {
    const keys = new DhtKeys(() => 0)
    const seeder = formatPeerId(Buffer.alloc(32, 1))
    const victim = formatPeerId(Buffer.alloc(32, 2))
    keys.name([seeder, victim])
    assert.ok(keys.take(Buffer.alloc(32, 1), seeder), 'taken by a lookup first, unnamed')
    assert.deepEqual(
      keys.takeNamed(() => true),
      { taken: [victim], refused: [] },
    )
    assert.equal(keys.get(seeder)?.named, true, 'marked named all the same')
    keys.unname(keys.get(victim)!) // it answered (a key with no such file, say): asked first once is enough
    keys.failed(keys.get(victim)!, 'unknown')
    assert.deepEqual(
      keys.takeNamed(() => true),
      { taken: [], refused: [] },
    )
    const other = new DhtKeys(() => 0)
    other.name([seeder])
    assert.deepEqual(
      other.takeNamed(() => false),
      { taken: [], refused: [seeder] },
    )
    assert.deepEqual(
      other.takeNamed(() => true),
      { taken: [], refused: [] },
      'refused once, named no more',
    )
    assert.throws(() => other.name(Array(MAX_NAMED + 1).fill(seeder)), /at most/)
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
