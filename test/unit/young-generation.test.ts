import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'

/**
 * A process that starts a worker thread (as the hash thread starts in every
 * download) and then allocates steadily, with much surviving a scavenge: its
 * young generation's largest size in MiB (both semi-spaces), with and
 * without the CLI's young-generation module loaded first.
 */
async function youngGenerationPeak(withModule: boolean): Promise<number> {
  const script = `
    ${withModule ? `await import(${JSON.stringify(new URL('../../src/cli/young-generation.js', import.meta.url).href)})` : ''}
    const v8 = await import('node:v8')
    const { Worker } = await import('node:worker_threads')
    const size = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
    const worker = new Worker('setInterval(() => {}, 1000)', { eval: true })
    await new Promise((resolve) => worker.once('online', resolve))
    await new Promise((resolve) => setImmediate(resolve))
    let kept = []
    let peak = size()
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 20000; i++) kept.push({ i, bytes: Buffer.allocUnsafe(64) })
      if (kept.length > 200000) kept = kept.slice(100000)
      peak = Math.max(peak, size())
      await new Promise((resolve) => setImmediate(resolve))
    }
    worker.terminate()
    console.log(peak / 1048576)
  `
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 60_000,
  })
  return Number(stdout.trim())
}

describe('the young generation (young-generation.ts)', () => {
  it('stays at its starting size after a worker thread starts (V8 raises the growth factor again for a new heap)', async (t) => {
    // One after the other: two allocating processes at once would load a two-core machine for nothing.
    const without = await youngGenerationPeak(false)
    // The control must grow it, or this test shows nothing (V8's largest young generation shrinks with the
    // memory a machine or container has).
    if (without < 8) return t.skip(`this machine's V8 did not grow the young generation past ${without} MiB`)
    const withModule = await youngGenerationPeak(true)
    assert.ok(withModule <= 2, `${withModule} MiB with the module, ${without} MiB without`)
  })
})
