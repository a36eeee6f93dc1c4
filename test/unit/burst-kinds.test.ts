import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BurstKinds } from '../../src/core/discovery/burst-kinds.js'

type Step = { kind: 'interval' } | { kind: 'burst' } | { kind: 'failed' } | { kind: 'wait'; ms: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: 'interval' }),
  fc.constant<Step>({ kind: 'burst' }),
  fc.constant<Step>({ kind: 'failed' }),
  fc.integer({ min: 1, max: 400 }).map((ms): Step => ({ kind: 'wait', ms })),
)

describe('burst-kinds: which bursts announce and read the whole store', () => {
  it('property: whole at the first burst, after an interval and after a failure; read whole then, and at a whole burst once rescanMs passed', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let now = 0
        const kinds = new BurstKinds(1000, () => now)
        // The model: what is due, and when the store was last read whole.
        let wholeDue = true
        let rescanDue = true
        let lastRescan = -Infinity
        for (const s of steps) {
          if (s.kind === 'wait') now += s.ms
          else if (s.kind === 'interval') {
            kinds.interval()
            wholeDue = true
          } else if (s.kind === 'failed') {
            kinds.failed()
            wholeDue = rescanDue = true
          } else {
            const { whole, rescan } = kinds.next()
            assert.equal(whole, wholeDue)
            assert.equal(rescan, wholeDue && (rescanDue || now - lastRescan >= 1000))
            assert.ok(!rescan || whole, 'a burst for a change never reads everything')
            if (rescan) lastRescan = now
            wholeDue = rescanDue = false
          }
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('an interval burst before rescanMs reads only what changed; the first after it reads everything', () => {
    let now = 0
    const kinds = new BurstKinds(60_000, () => now)
    assert.deepEqual(kinds.next(), { whole: true, rescan: true })
    assert.deepEqual(kinds.next(), { whole: false, rescan: false })
    now = 5000
    kinds.interval()
    assert.deepEqual(kinds.next(), { whole: true, rescan: false })
    now = 60_000
    kinds.interval()
    assert.deepEqual(kinds.next(), { whole: true, rescan: true })
    kinds.failed()
    assert.deepEqual(kinds.next(), { whole: true, rescan: true })
  })
})
