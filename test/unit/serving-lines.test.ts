import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sayWhatIsServed } from '../../src/cli/serving-lines.js'

/** A seeder's lines while it serves (serving-lines.ts): one an interval in which chunks left, none in a quiet one. */
describe('what a seeder says it served', () => {
  it('says each busy interval what left in it and in all, nothing for a quiet one, and stops', async () => {
    const stats = { bytesServed: 5 * 1024 * 1024, chunksServed: 5 } // before the lines began: not "in the last"
    const lines: string[] = []
    const stop = sayWhatIsServed({ stats }, (line) => lines.push(line), 40)
    await sleep(60)
    assert.deepEqual(lines, [], 'nothing served yet')
    stats.bytesServed += 3 * 1024 * 1024
    stats.chunksServed += 3
    await sleep(50)
    assert.deepEqual(lines, ['  served 3 MiB (3 chunks) in the last 0.04 s; 8 MiB in all'])
    await sleep(90)
    assert.equal(lines.length, 1, 'a quiet interval says nothing')
    stats.chunksServed += 1
    stats.bytesServed += 1024
    stop()
    await sleep(90)
    assert.equal(lines.length, 1, 'nothing once stopped')
  })
})
