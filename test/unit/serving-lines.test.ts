import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sayWhatIsServed } from '../../src/cli/serving-lines.js'

/** Waits until `done()` (polled every 10 ms, at most 5 s: a loaded machine's timers come late, never not at all). */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 5000; waited += 10) await sleep(10)
}

/** Lines without their colour (chalk's, when a terminal or FORCE_COLOR gives it). */
const plain = (lines: string[]) => lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''))

/**
 * A seeder's lines while it serves (serving-lines.ts): one an interval in which chunks left, none in a quiet one,
 * and one when chunks on disk were found damaged.
 */
describe('what a seeder says it served', () => {
  it('says each busy interval what left in it and in all, nothing for a quiet one, and stops', async () => {
    const stats = { bytesServed: 5 * 1024 * 1024, chunksServed: 5, corruptChunks: 0 } // before the lines began
    const lines: string[] = []
    const stop = sayWhatIsServed({ stats }, (line) => lines.push(line), 40)
    await sleep(60)
    assert.deepEqual(lines, [], 'nothing served yet')
    stats.bytesServed += 3 * 1024 * 1024
    stats.chunksServed += 3
    await until(() => lines.length > 0)
    assert.deepEqual(plain(lines), ['  served 3 MiB (3 chunks) in the last 0.04 s; 8 MiB in all'])
    await sleep(90)
    assert.equal(lines.length, 1, 'a quiet interval says nothing')
    stats.chunksServed += 1
    stats.bytesServed += 1024
    stop()
    await sleep(90)
    assert.equal(lines.length, 1, 'nothing once stopped')
  })

  it('says when it refused chunks on disk that no longer match their manifest (a shared file edited), once an interval', async () => {
    const stats = { bytesServed: 0, chunksServed: 0, corruptChunks: 2 } // found before the lines began: in the log
    const lines: string[] = []
    const stop = sayWhatIsServed({ stats }, (line) => lines.push(line), 40)
    stats.corruptChunks += 1
    await until(() => lines.length > 0)
    await sleep(90)
    stop()
    assert.equal(lines.length, 1, plain(lines).join('\n'))
    assert.match(
      plain(lines)[0]!,
      /^ {2}refused 1 request for chunks on disk that no longer match the manifest \(a shared file edited or damaged\?\)/,
    )
  })
})
