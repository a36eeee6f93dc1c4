import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Coalescer } from '../../src/core/coalescer.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

type Op =
  | { kind: 'request' }
  | { kind: 'now' | 'flush'; wait: boolean }
  | { kind: 'sleep'; ms: number }
  | { kind: 'stop' }

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'request' as const }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constantFrom('now' as const, 'flush' as const), wait: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('sleep' as const), ms: fc.integer({ min: 0, max: 6 }) }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'stop' as const }), weight: 1 },
)

/** Drives one Coalescer through `ops` and records what it did, in one sequence of numbered events. */
async function drive(ops: Op[], gap: number, runMs: number[], failEvery: number) {
  let seq = 0
  let active = 0
  let overlapped = false
  let errors = 0
  const runs: { start: number; end: number; startedAt: number; endedAt: number }[] = []
  const asks: number[] = []
  const forced: { asked: number; resolved: number }[] = []
  let stoppedAt = Number.POSITIVE_INFINITY
  let stopResolvedAt = Number.POSITIVE_INFINITY
  const nowAnswered: { asked: number; resolved: number }[] = []
  const coalescer = new Coalescer(
    async () => {
      const n = runs.length
      const run = { start: ++seq, end: 0, startedAt: performance.now(), endedAt: 0 }
      runs.push(run)
      active++
      overlapped ||= active > 1
      try {
        if (n % failEvery === failEvery - 1) throw new Error('failure before any await')
        await sleep(runMs[n % runMs.length]!)
        if (n % failEvery === failEvery - 2) throw new Error('failure after an await')
      } finally {
        active--
        run.end = ++seq
        run.endedAt = performance.now()
      }
    },
    () => gap,
    () => errors++,
  )
  const waits: Promise<void>[] = []
  for (const o of ops) {
    if (o.kind === 'request') {
      asks.push(++seq)
      coalescer.request()
    } else if (o.kind === 'sleep') await sleep(o.ms)
    else if (o.kind === 'stop') {
      stoppedAt = Math.min(stoppedAt, ++seq)
      waits.push(
        coalescer.stop().then(() => {
          stopResolvedAt = Math.min(stopResolvedAt, ++seq)
        }),
      )
    } else {
      const asked = ++seq
      const call = { asked, resolved: Number.POSITIVE_INFINITY }
      forced.push(call)
      const done = (o.kind === 'now' ? coalescer.now() : coalescer.flush()).then(() => {
        call.resolved = ++seq
        if (o.kind === 'now') nowAnswered.push(call)
      })
      if (o.wait) await done
      else waits.push(done)
    }
  }
  await Promise.all(waits)
  await sleep(gap + Math.max(...runMs) + 30)
  await coalescer.stop()
  return { runs, asks, forced, stoppedAt, stopResolvedAt, nowAnswered, overlapped, errors, gap }
}

describe('Coalescer', () => {
  it('one run at a time; every ask answered by a later run; none after stop; the gap kept; failures reported', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 2, max: 6 }),
        async (ops, gap, runMs, failEvery) => {
          const r = await drive(ops, gap, runMs, failEvery)
          assert.equal(r.overlapped, false, 'two runs at once')
          if (r.stoppedAt === Number.POSITIVE_INFINITY)
            for (const ask of r.asks)
              assert.ok(
                r.runs.some((run) => run.start > ask),
                `ask ${ask} never answered`,
              )
          for (const { asked, resolved } of r.nowAnswered) {
            if (asked > r.stoppedAt) continue
            const answering = r.runs.find((run) => run.start > asked)
            if (answering === undefined) assert.ok(r.stoppedAt < resolved, `now() at ${asked} resolved without a run`)
            else assert.ok(answering.end < resolved, `now() at ${asked} resolved before its run ended`)
          }
          for (const run of r.runs) assert.ok(run.start < r.stopResolvedAt, 'a run after stop resolved')
          for (let i = 1; i < r.runs.length; i++) {
            const prev = r.runs[i - 1]!
            const run = r.runs[i]!
            // A now() or flush() waiting while the previous run went on starts the next without the gap.
            if (r.forced.some((f) => f.asked < run.start && f.resolved > prev.start)) continue
            assert.ok(run.startedAt - prev.endedAt >= r.gap, `runs ${i - 1} and ${i} closer than the gap`)
          }
          const failed = r.runs.filter((_, n) => n % failEvery >= failEvery - 2).length
          assert.equal(r.errors, failed, 'each failure reported once')
        },
      ),
      { numRuns: 60, includeErrorInReport: true },
    )
  })

  it('a flush with nothing asked runs nothing; now() always runs', async () => {
    let runs = 0
    const coalescer = new Coalescer(
      async () => void runs++,
      () => 0,
      () => undefined,
    )
    await coalescer.flush()
    assert.equal(runs, 0)
    await coalescer.now()
    assert.equal(runs, 1)
    coalescer.request()
    await coalescer.flush()
    assert.equal(runs, 2)
    await coalescer.stop()
    coalescer.request()
    await coalescer.now()
    await sleep(5)
    assert.equal(runs, 2, 'nothing after stop')
  })
})
