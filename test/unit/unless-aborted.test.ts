import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { unlessAborted } from '../../src/core/unless-aborted.js'

describe('unlessAborted', () => {
  it("gives the work's value, or undefined once the signal aborts first; never an unhandled rejection", async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason)
    }
    process.on('unhandledRejection', onUnhandled)
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            workMs: fc.integer({ min: 0, max: 4 }),
            fails: fc.boolean(),
            abortMs: fc.option(fc.integer({ min: -1, max: 4 })), // -1: aborted before; null: never
          }),
          async ({ workMs, fails, abortMs }) => {
            const controller = new AbortController()
            if (abortMs === -1) controller.abort()
            else if (abortMs !== null) setTimeout(() => controller.abort(), abortMs)
            const work = new Promise<number>((resolve, reject) =>
              setTimeout(() => (fails ? reject(new Error('failed')) : resolve(7)), workMs),
            )
            let outcome: { value: number } | undefined | 'threw'
            try {
              outcome = await unlessAborted(work, controller.signal)
            } catch {
              outcome = 'threw'
            }
            if (abortMs === -1) assert.equal(outcome, undefined, 'aborted before: at once')
            else if (outcome === undefined) assert.ok(controller.signal.aborted, 'undefined only once aborted')
            else if (fails) assert.equal(outcome, 'threw')
            else assert.deepEqual(outcome, { value: 7 })
            await new Promise((resolve) => setTimeout(resolve, 6)) // the work and the abort have both happened
          },
        ),
        { numRuns: 150 },
      )
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('leaves no listener on the signal', async () => {
    const controller = new AbortController()
    let added = 0
    let removed = 0
    const add = controller.signal.addEventListener.bind(controller.signal)
    const remove = controller.signal.removeEventListener.bind(controller.signal)
    controller.signal.addEventListener = ((...a: Parameters<typeof add>) => (added++, add(...a))) as typeof add
    controller.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (
      removed++, remove(...a)
    )) as typeof remove
    for (let i = 0; i < 5; i++) await unlessAborted(Promise.resolve(i), controller.signal)
    assert.deepEqual([added, removed], [5, 5])
  })
})
