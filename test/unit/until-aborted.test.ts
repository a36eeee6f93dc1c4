import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { untilAborted } from '../../src/cli/stopping.js'

const within = (ms: number) => new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), ms))

describe("a daemon's wait for Ctrl-C (untilAborted)", () => {
  it('ends at once when the signal was aborted before the wait began (a Ctrl-C during start-up is not missed)', async () => {
    const controller = new AbortController()
    controller.abort()
    assert.equal(
      await Promise.race([untilAborted(controller.signal).then(() => 'ended' as const), within(1000)]),
      'ended',
    )
  })

  it('ends when the signal is aborted later, and not before', async () => {
    const controller = new AbortController()
    const wait = untilAborted(controller.signal).then(() => 'ended' as const)
    assert.equal(await Promise.race([wait, within(50)]), 'late')
    controller.abort()
    assert.equal(await Promise.race([wait, within(1000)]), 'ended')
  })
})
