import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { RarityOrder, rankOrder } from '../../src/core/download/rarity-order.js'
import { Scheduler } from '../../src/core/download/scheduler.js'

/** The order as it was made before the counts: every chunk compared, by holders, share, rank, index. */
function sorted(count: number, holders: readonly number[], done: Uint8Array, mine?: Uint8Array, ranks?: Uint32Array) {
  const rank = (i: number): number => (ranks ? ranks[i]! : i)
  const share = (i: number): number => (mine ? 1 - mine[i]! : 0)
  return Array.from({ length: count }, (_, i) => i)
    .filter((i) => !done[i] && holders[i]! > 0)
    .sort((a, b) => holders[a]! - holders[b]! || share(a) - share(b) || rank(a) - rank(b) || a - b)
}

const orderOf = (order: RarityOrder): number[] => Array.from({ length: order.size }, (_, at) => order.at(at))

/** Draws in [0, 1) from a seed, the same sequence each time (the scheduler's `random`, and the test's copy of it). */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/** One thing that happens to a download (`peer` picks one of a few keys, `at` a chunk modulo the count). */
type Step =
  | { kind: 'announce'; peer: number; full: boolean; bits: boolean[] } // joins, or announces a new have-set
  | { kind: 'flip'; peer: number; at: number } // one bit changed in place, then announced again
  | { kind: 'leave'; peer: number }
  | { kind: 'ask'; peer: number }
  | { kind: 'deliver'; pick: number }
  | { kind: 'deny'; pick: number } // "not found": that peer is never asked for it again
  | { kind: 'corrupt'; pick: number } // a bad chunk: one strike bans the peer

const peerIndex = fc.nat({ max: 4 })
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('announce' as const),
    peer: peerIndex,
    full: fc.boolean(),
    bits: fc.array(fc.boolean()),
  }),
  fc.record({ kind: fc.constant('flip' as const), peer: peerIndex, at: fc.nat() }),
  fc.record({ kind: fc.constant('leave' as const), peer: peerIndex }),
  { arbitrary: fc.record({ kind: fc.constant('ask' as const), peer: peerIndex }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat() }), weight: 2 },
  fc.record({ kind: fc.constant('deny' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('corrupt' as const), pick: fc.nat() }),
)

describe('rarity order', () => {
  it('property: the counting sort gives the order the comparison sort gave, ties and share included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }).chain((count) =>
          fc.record({
            count: fc.constant(count),
            holders: fc.array(fc.nat({ max: 5 }), { minLength: count, maxLength: count }),
            done: fc.uint8Array({ min: 0, max: 1, minLength: count, maxLength: count }),
            mine: fc.option(fc.uint8Array({ min: 0, max: 1, minLength: count, maxLength: count }), { nil: undefined }),
            // few distinct ranks, so that equal ranks (broken by index) come up
            ranks: fc.option(
              fc.array(fc.constantFrom(0, 1, 2, 0xffff, 0x10000, 0xffffffff), { minLength: count, maxLength: count }),
              { nil: undefined },
            ),
          }),
        ),
        ({ count, holders, done, mine, ranks }) => {
          const rankArray = ranks && Uint32Array.from(ranks)
          const ties = rankArray && rankOrder(rankArray)
          const order = new RarityOrder(count)
          // made twice into the same memory: the second must not see the first
          order.make({ ties, done: new Uint8Array(count), mine: undefined, holdersOf: () => 1 })
          order.make({ ties, done, mine, holdersOf: (i) => holders[i]! })
          const expected = sorted(count, holders, done, mine, rankArray)
          assert.deepEqual(orderOf(order), expected)
          for (let i = 0; i < count; i++) assert.equal(order.positionOf(i), expected.indexOf(i))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: each pick is what a walk from the start of an order made afresh would give, though walks resume where they were', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 48 }),
        fc.integer(),
        fc.array(arbStep, { maxLength: 120, size: 'large' }),
        (count, seed, steps) => {
          const s = new Scheduler(count, {
            random: seeded(seed),
            now: () => 0, // nobody overdue: no hedging
            probeWindow: 10_000,
            window: 10_000,
            maxStrikes: 1,
          })
          const draws = seeded(seed)
          let ranks: Uint32Array | undefined
          const fields = new Map<string, Bitfield>()
          const banned = new Set<string>()
          const denied = new Set<string>() // "key:index"
          const inFlight: Array<{ key: string; index: number }> = []
          const done = new Uint8Array(count)
          for (const step of steps) {
            if (step.kind === 'announce' || step.kind === 'flip' || step.kind === 'leave' || step.kind === 'ask') {
              const key = `p${step.peer}`
              if (step.kind === 'announce') {
                const have = new Bitfield(count)
                for (let i = 0; i < count; i++) have.set(i, step.full || (step.bits[i] ?? false))
                fields.set(key, have)
                s.setPeer(key, have)
              } else if (step.kind === 'flip') {
                const have = fields.get(key)
                if (!have) continue
                have.set(step.at % count, !have.get(step.at % count))
                s.setPeer(key, have)
              } else if (step.kind === 'leave') {
                fields.delete(key)
                s.removePeer(key)
                for (let k = inFlight.length - 1; k >= 0; k--) if (inFlight[k]!.key === key) inFlight.splice(k, 1)
              } else {
                // The reference: the order made afresh from the peers as they are, walked from its start.
                const live = [...fields].filter(([k]) => !banned.has(k))
                const holders = Array.from({ length: count }, (_, i) => live.filter(([, f]) => f.get(i)).length)
                const have = banned.has(key) ? undefined : fields.get(key)
                // Ranks are drawn at the first order made while a peer holds part of the file (asking a peer makes it).
                if (have && ranks === undefined && live.some(([, f]) => f.count() < count))
                  ranks = Uint32Array.from({ length: count }, () => Math.floor(draws() * 2 ** 32))
                const requested = new Set(inFlight.map((f) => f.index))
                const expected = sorted(count, holders, done, undefined, ranks).find(
                  (i) => !requested.has(i) && have?.get(i) && !denied.has(`${key}:${i}`),
                )
                const index = s.next(key)
                if (expected !== undefined) assert.equal(index, expected)
                else if (index !== undefined) assert.ok(requested.has(index), 'with nothing free, only the endgame')
                if (index !== undefined) inFlight.push({ key, index })
              }
              continue
            }
            if (inFlight.length === 0) continue
            const { key, index } = inFlight.splice(step.pick % inFlight.length, 1)[0]!
            if (step.kind === 'deliver') {
              if (done[index]) {
                s.discard(key, index) // an endgame duplicate, after the first copy
                continue
              }
              done[index] = 1
              for (const other of s.succeeded(key, index, 1)) {
                const at = inFlight.findIndex((f) => f.key === other && f.index === index)
                if (at >= 0) s.discard(other, inFlight.splice(at, 1)[0]!.index)
              }
            } else if (step.kind === 'deny') {
              s.failed(key, index, 'missing')
              denied.add(`${key}:${index}`)
            } else if (s.failed(key, index, 'checksum')) {
              banned.add(key)
              for (let k = inFlight.length - 1; k >= 0; k--) if (inFlight[k]!.key === key) inFlight.splice(k, 1)
            }
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('a walk resumed in a new order still finds a chunk a have-set gained in place, not yet announced', () => {
    const bits = (indices: number[]): Bitfield => {
      const b = new Bitfield(4)
      for (const i of indices) b.set(i)
      return b
    }
    const s = new Scheduler(4, { random: () => 0, now: () => 0, probeWindow: 4 })
    const a = bits([0, 1])
    const b = bits([2])
    const c = bits([3])
    for (const [key, have] of [
      ['a', a],
      ['b', b],
      ['c', c],
    ] as const)
      s.setPeer(key, have)
    assert.deepEqual([s.next('a'), s.next('a'), s.next('a')], [0, 1, undefined]) // its walk is at the end
    a.set(2) // a gains chunk 2 and b loses it, in place: as many hold it as before
    b.set(2, false)
    c.set(0)
    s.setPeer('c', c) // a new order, made for c
    assert.equal(s.next('a'), 2)
  })

  it('costs what changed, not chunks × peers: 65,536 chunks, 256 partial peers asked after each bit one of them flips', () => {
    // The peers hold part of the first 9,600 chunks, the rarest come after them in the order: each new order
    // once cost 70–130 ms to make, and sent every peer's walk back to its start, 56,000 chunks before any it
    // holds (2.7 s for these 20 rounds here, now 0.1 s). The bound is a hang bound, 10× what it takes.
    const count = 65_536
    const s = new Scheduler(count, { random: () => 0.5 })
    s.setPeer('seeder', Bitfield.full(count))
    const fields: Bitfield[] = []
    for (let p = 0; p < 256; p++) {
      const have = new Bitfield(count)
      for (let i = p % 2; i < 9600; i += 2) have.set(i)
      fields.push(have)
      s.setPeer(`p${p}`, have)
    }
    const round = (flip: number): void => {
      fields[0]!.set(flip, !fields[0]!.get(flip))
      s.setPeer('p0', fields[0]!)
      for (let p = 0; p < 256; p++) {
        const index = s.next(`p${p}`)
        assert.ok(index !== undefined && index < 9600)
        s.succeeded(`p${p}`, index, 1)
      }
    }
    round(9001) // the first walks: every peer past the 56,000 chunks only the seeder has, once
    const started = performance.now()
    for (let r = 0; r < 20; r++) round(2 * r + 1)
    const took = performance.now() - started
    assert.ok(took < 1000, `20 rounds took ${took.toFixed(0)} ms`)
  })
})
