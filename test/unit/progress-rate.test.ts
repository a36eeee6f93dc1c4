import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatRate } from '../../src/cli/format.js'
import { createProgress, recentRate } from '../../src/cli/progress.js'

/** The rate a progress bar or line shows: what flows now, not an average since the start. */

describe('the progress rate (progress.ts recentRate)', () => {
  it('leaves out what a resumed download held at its start, and falls to 0 in a stall', () => {
    const recent = recentRate()
    const rate = (done: number, now: number) => formatRate(...recent.window(done, now))
    assert.equal(rate(100e6, 0), '– MB/s', 'nothing measured yet')
    assert.equal(rate(110e6, 1000), '10.0 MB/s', 'the 100 MB resumed are not counted (110 MB/s before)')
    assert.equal(rate(120e6, 2000), '10.0 MB/s')
    assert.equal(rate(120e6, 6000), '2.0 MB/s', 'over the last 5 s: 10 MB')
    assert.equal(rate(120e6, 12_500), '0.0 MB/s', 'a stall shows as one (the average since the start read 9.6)')
    assert.equal(recent.bytesPerSecond(), 0, 'and the time left is "–" then, not the average’s')
  })

  it('keeps at most a sample every 250 ms, however often it is called', () => {
    const recent = recentRate()
    const rate = (done: number, now: number) => formatRate(...recent.window(done, now))
    for (let at = 0; at <= 10_000; at++) rate(at * 1000, at)
    // 1,000 bytes a millisecond throughout: 1 MB/s, whichever samples were kept.
    assert.equal(rate(10_001 * 1000, 10_001), '1.0 MB/s')
  })

  it('plain lines (no terminal) say the time left, once something flows', async () => {
    const lines: string[] = []
    const write = process.stderr.write
    const tty = process.stderr.isTTY
    process.stderr.isTTY = false
    process.stderr.write = ((chunk: string) => lines.push(chunk) > 0) as typeof process.stderr.write
    try {
      const progress = createProgress('download', 10e6, { json: false, intervalMs: 0 })
      progress.update(1e6)
      await new Promise((resolve) => setTimeout(resolve, 300))
      progress.update(2e6)
    } finally {
      process.stderr.write = write
      process.stderr.isTTY = tty
    }
    assert.equal(lines.length, 2, lines.join(''))
    assert.match(lines[0]!, /^download: 10\.0% .* – MB\/s, ETA –\n$/, 'nothing measured yet: no time left said')
    assert.match(lines[1]!, /^download: 20\.0% .* MB\/s, ETA \d+s\n$/)
  })
})
