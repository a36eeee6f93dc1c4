import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOWNLOAD_INTERRUPT_BUDGET, tierUpFlag } from '../../src/cli/tier-up.js'

describe('tierUpFlag', () => {
  it('sets four times the default budget when node was given none', () => {
    assert.equal(DOWNLOAD_INTERRUPT_BUDGET, 4 * 67_584)
    assert.equal(tierUpFlag([]), '--interrupt-budget=270336')
    assert.equal(
      tierUpFlag(['--max-old-space-size=512', '--interrupt-budget-factor-for-feedback-allocation=8']),
      '--interrupt-budget=270336',
    )
  })

  it("leaves a budget given on node's command line alone, in either spelling", () => {
    assert.equal(tierUpFlag(['--interrupt-budget=16896']), undefined)
    assert.equal(tierUpFlag(['--perf-basic-prof-only-functions', '--interrupt_budget=16896']), undefined)
    assert.equal(tierUpFlag(['--interrupt-budget', '16896']), undefined)
  })
})
