import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type ChangeFeed, waitForQuiet } from '../../src/core/download/quiet.js'

/**
 * A directory on a virtual clock: `events` say at which time which ids
 * become visible (an event with no ids is an unrelated change). Waiting
 * jumps the clock to the next event within the wait, or by the whole wait.
 */
class ScriptedFeed implements ChangeFeed {
  time = 0
  visible: string[] = []
  waits = 0
  private readonly events: Array<{ at: number; ids?: string[] }>
  constructor(events: Array<{ at: number; ids?: string[] }>) {
    this.events = [...events].sort((a, b) => a.at - b.at)
  }

  async waitForChange(ms: number): Promise<void> {
    this.waits++
    const next = this.events.find((e) => e.at > this.time && e.at <= this.time + ms)
    if (!next) {
      this.time += ms
      return
    }
    this.time = next.at
    for (const e of this.events) if (e.at === next.at) this.visible.push(...(e.ids ?? []))
  }
}

/** Runs the wait on the scripted feed; returns when it ended and what was visible then. */
async function settle(
  events: Array<{ at: number; ids?: string[] }>,
  o: { quietMs?: number; since?: number; deadline?: number } = {},
) {
  const feed = new ScriptedFeed(events)
  for (const e of events) if (e.at <= 0) feed.visible.push(...(e.ids ?? []))
  await waitForQuiet(feed, () => feed.visible, {
    quietMs: o.quietMs ?? 1000,
    since: o.since ?? 0,
    deadline: o.deadline ?? 60_000,
    now: () => feed.time,
  })
  return { at: feed.time, ids: [...new Set(feed.visible)].sort(), waits: feed.waits }
}

describe('waitForQuiet (deciding when all answers for a name are in)', () => {
  it('one answer: decides one quiet interval after it, not at the first change', async () => {
    assert.deepEqual(await settle([{ at: 5, ids: ['a'] }]), { at: 1005, ids: ['a'], waits: 2 })
  })

  it('a second id 600 ms after the first is still collected (the race that gave exit 0 instead of E_AMBIGUOUS)', async () => {
    const r = await settle([
      { at: 5, ids: ['a'] },
      { at: 605, ids: ['b'] },
    ])
    assert.deepEqual(r.ids, ['a', 'b'])
    assert.equal(r.at, 1605, 'the quiet interval restarts at the new id')
  })

  it("unrelated changes (other files, refreshes, a big store's further datagrams) neither end nor extend the wait", async () => {
    const noise = Array.from({ length: 40 }, (_, i) => ({ at: 10 + i * 25 }))
    const r = await settle([{ at: 5, ids: ['a'] }, ...noise, { at: 900, ids: ['a'] }, { at: 990, ids: ['b'] }])
    assert.deepEqual(r.ids, ['a', 'b'])
    assert.equal(r.at, 1990)
  })

  it('an id already visible when the wait starts counts from then; with nothing seen it waits for the deadline', async () => {
    assert.equal((await settle([{ at: 0, ids: ['a'] }], { since: -300 })).at, 1000)
    assert.equal(
      (await settle([{ at: 100 }], { since: 0, deadline: 2500 })).at,
      2500,
      'an unrelated change does not end it',
    )
  })

  it('is bounded by the deadline however many new ids keep coming', async () => {
    const flood = Array.from({ length: 100 }, (_, i) => ({ at: 1 + i * 500, ids: [`id${i}`] }))
    const r = await settle(flood, { deadline: 3000 })
    assert.equal(r.at, 3000)
    assert.equal(r.ids.length, 6)
  })

  it('rejects when aborted', async () => {
    const feed = new ScriptedFeed([])
    await assert.rejects(
      waitForQuiet(feed, () => [], {
        quietMs: 100,
        since: 0,
        deadline: 1000,
        now: () => feed.time,
        signal: AbortSignal.abort(new Error('stop')),
      }),
      /stop/,
    )
  })

  it('property: ends at min(deadline, last new id + quiet) and has seen every id that came before it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.integer({ min: 1, max: 5000 }),
            id: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }),
          }),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 0, max: 8000 }),
        async (raw, quietMs, deadline) => {
          const events = raw.map((e) => ({ at: e.at, ...(e.id ? { ids: [e.id] } : {}) }))
          const r = await settle(events, { quietMs, deadline })
          // The reference: walk the events in time order.
          const firstSeen = new Map<string, number>()
          for (const e of [...events].sort((x, y) => x.at - y.at))
            for (const id of e.ids ?? []) if (!firstSeen.has(id)) firstSeen.set(id, e.at)
          let end = deadline
          let last: number | undefined
          for (const at of [...firstSeen.values()].sort((x, y) => x - y)) {
            if (at > (last === undefined ? deadline : Math.min(deadline, last + quietMs))) break
            last = at
          }
          if (last !== undefined) end = Math.min(deadline, last + quietMs)
          assert.equal(r.at, end)
          assert.deepEqual(
            r.ids,
            [...firstSeen]
              .filter(([, at]) => at <= end)
              .map(([id]) => id)
              .sort(),
          )
        },
      ),
      { numRuns: 300 },
    )
  })
})
