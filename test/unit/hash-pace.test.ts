import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { HASH_PACE_WINDOW_MS, HashPace, MAIN_THREAD_BYTES_PER_WINDOW } from '../../src/core/hash-pace.js'

const MiB = 1024 * 1024

/** Feeds chunks of `bytes` every `gapMs`; the indices of those sent to the thread. */
function feed(pace: HashPace, chunks: number, bytes: number, gapMs: number, start = 0): number[] {
  const threaded: number[] = []
  for (let i = 0; i < chunks; i++) if (pace.toThread(bytes, start + i * gapMs)) threaded.push(i)
  return threaded
}

describe('where chunks are hashed (hash-pace.ts)', () => {
  it('a 200 Mbit/s link (1 MiB every 42 ms) stays on the main thread for a whole 256 MiB file', () => {
    assert.deepEqual(feed(new HashPace(), 256, MiB, 42), [])
  })

  it('8 MiB finishing at once (all a download may have in flight) does not start the thread', () => {
    const pace = new HashPace()
    assert.deepEqual(feed(pace, 8, MiB, 0), [])
    assert.deepEqual(feed(pace, 64, MiB, 42, 1000), [])
  })

  it('loopback speed (1 MiB every 4 ms) moves to the thread within the first window, and stays there when it slows', () => {
    const pace = new HashPace()
    const threaded = feed(pace, 40, MiB, 4)
    assert.equal(threaded[0], MAIN_THREAD_BYTES_PER_WINDOW / MiB, 'the first chunk past 16 MiB in 250 ms')
    assert.equal(threaded.length, 40 - threaded[0]!)
    assert.deepEqual(feed(pace, 10, MiB, 1000, 10_000).length, 10)
  })

  it('a chunk over 4 MiB goes to the thread at once, whatever the pace', () => {
    assert.deepEqual(feed(new HashPace(), 3, 8 * MiB, 10_000), [0, 1, 2])
  })

  it('a clock that goes back starts a new window (it does not add to the old one)', () => {
    const pace = new HashPace()
    for (const mib of [4, 4, 4, 3]) assert.equal(pace.toThread(mib * MiB, 1000), false) // 15 MiB at 1000 ms
    assert.equal(pace.toThread(2 * MiB, 500), false, 'a new window: 2 MiB, not 17')
    for (const mib of [4, 4, 4]) assert.equal(pace.toThread(mib * MiB, 600), false) // 14 MiB in it
    assert.equal(pace.toThread(4 * MiB, 600), true, 'that window past 16 MiB')
  })

  it('property: the thread only after more than the limit arrived within one 250 ms span; once the thread, always', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 400 }), bytes: fc.integer({ min: 1, max: 4 * MiB }) }), {
          maxLength: 200,
        }),
        (arrivals) => {
          const pace = new HashPace()
          const times: number[] = []
          let now = 0
          let overSoFar = false // some span ending at an arrival so far held more than the limit
          let threaded = false
          for (const [i, { gap, bytes }] of arrivals.entries()) {
            now += gap
            times.push(now)
            let span = 0
            for (let j = i; j >= 0 && now - times[j]! < HASH_PACE_WINDOW_MS; j--) span += arrivals[j]!.bytes
            overSoFar ||= span > MAIN_THREAD_BYTES_PER_WINDOW
            const toThread = pace.toThread(bytes, now)
            if (threaded) assert.ok(toThread, 'once on the thread, it stays')
            if (toThread) assert.ok(overSoFar, 'on the thread only after more than the limit within one span')
            threaded = toThread
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
