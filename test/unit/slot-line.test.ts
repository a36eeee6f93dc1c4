import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { Scheduler } from '../../src/core/download/scheduler.js'
import { hasCode } from '../../src/core/errors.js'
import {
  errorFromResponse,
  errorHeader,
  MAX_LINE_PLACE,
  notNowOf,
  parseResponse,
} from '../../src/core/transfer/messages.js'
import { UploadSlots } from '../../src/core/transfer/upload-slots.js'

/**
 * A busy seeder's upload-slot line, seen from both ends on one injected
 * clock: the server's UploadSlots, its "not now" through the codec (header
 * → parseResponse → errorFromResponse → notNowOf, as the client reads it),
 * and the downloader's Scheduler. A tester found (loopback, 64 addresses
 * each asking every 500 ms) that the line, moving 4 places per 5 s turn,
 * kept an honest downloader waiting past its 60 s patience: its only seeder
 * was written off and the download ended in E_NO_PEER.
 */

const CHUNKS = 12
const STEP_MS = 100

/** The seeder's answer to `peer` at `now`, as the downloader reads it: a chunk, or a "not now". */
function answer(slots: UploadSlots, peer: string, now: number, sayPlace: boolean) {
  const retryMs = slots.request(peer, now)
  if (retryMs === 0) return undefined
  const place = sayPlace ? slots.placeOf(peer) : undefined
  const header = { ...errorHeader('E_BUSY', 'not now'), retryMs, ...(place !== undefined ? { place } : {}) }
  const response = parseResponse(header)
  assert.equal(response.type, 'error')
  if (response.type !== 'error') throw new Error('unreachable')
  return notNowOf(errorFromResponse(response))
}

/**
 * `crowd` addresses ask the seeder every 500 ms from 0; the downloader (its only peer that seeder) from 4 s,
 * whenever its scheduler lets it. Ends when the download is done, the seeder written off, or at 200 s.
 */
function run(crowd: number, sayPlace: boolean) {
  let clock = 0
  const slots = new UploadSlots()
  const s = new Scheduler(CHUNKS, { now: () => clock, random: () => 0 })
  const places: number[] = []
  let writtenOffAt: number | undefined
  for (; clock < 200_000 && !s.finished && writtenOffAt === undefined; clock += STEP_MS) {
    for (let i = 0; i < crowd; i++) if ((clock / STEP_MS + i) % 5 === 0) slots.request(`crowd ${i}`, clock)
    if (clock === 4000) s.setPeer('seeder', Bitfield.full(CHUNKS))
    if (clock < 4000) continue
    for (let index = s.next('seeder'); index !== undefined; index = s.next('seeder')) {
      const notNow = answer(slots, 'me', clock, sayPlace)
      if (notNow === undefined) {
        s.arrived('seeder', index)
        s.succeeded('seeder', index, 250_000)
        continue
      }
      if (notNow.place !== undefined) places.push(notNow.place)
      s.notNow('seeder', index, notNow.retryMs, notNow.place)
    }
    if (s.takeWrittenOff().includes('seeder')) writtenOffAt = clock
  }
  return { done: s.finished, at: clock, writtenOffAt, places }
}

describe("a busy seeder's upload-slot line (upload-slots.ts, peer-judge.ts)", () => {
  it('64 addresses ahead, the line moving 4 places per 5 s turn: the downloader is told its place, waits past 60 s while it shrinks, and is served', () => {
    const { done, at, writtenOffAt, places } = run(64, true)
    assert.equal(writtenOffAt, undefined, `the seeder was written off at ${writtenOffAt} ms`)
    assert.ok(done, `not done at ${at} ms`)
    assert.ok(at > 4000 + 60_000, `done at ${at} ms: the line did keep it waiting past its patience`)
    assert.ok(places[0]! >= 60, `first told place ${places[0]}`)
    for (let i = 1; i < places.length; i++) assert.ok(places[i]! <= places[i - 1]!, `place grew: ${places}`)
    // Served within its place in line: 65 places, 4 slots, 5 s turns (+1 turn, and its retry).
    assert.ok(at - 4000 <= (Math.ceil(65 / 4) + 1) * 5000 + 2000, `done at ${at} ms`)
  })

  it('a server that does not say the place (before this field) is given 60 s, as before', () => {
    const { done, writtenOffAt } = run(64, false)
    assert.equal(done, false)
    const patienceEnds = 4000 + 60_000
    assert.ok(
      writtenOffAt !== undefined && writtenOffAt >= patienceEnds && writtenOffAt <= patienceEnds + 2000 + STEP_MS,
      `written off at its patience (its first "not now" after it), not at ${writtenOffAt} ms`,
    )
  })

  it('a stranger saying "not now" for ever is written off: at 60 s with a place that never shrinks, at 10 min counting down from the highest place', () => {
    for (const [placeAt, bound] of [
      [() => 1, 60_000],
      [(t: number) => MAX_LINE_PLACE - Math.floor(t / 59_000), 600_000],
    ] as const) {
      let clock = 0
      const s = new Scheduler(CHUNKS, { now: () => clock, random: () => 0 })
      s.setPeer('stranger', Bitfield.full(CHUNKS))
      for (; clock <= 700_000 && s.readyIn('stranger') < Infinity; clock += STEP_MS)
        for (let index = s.next('stranger'); index !== undefined; index = s.next('stranger'))
          s.notNow('stranger', index, 2000, placeAt(clock))
      assert.equal(s.readyIn('stranger'), Infinity, 'written off')
      assert.ok(clock >= bound && clock <= bound + 2 * 2000 + STEP_MS, `written off at ${clock} ms (bound ${bound})`)
      assert.deepEqual(s.takeWrittenOff(), ['stranger'])
    }
  })

  it('the place on the wire is checked as hostile input: an integer in 1 … 65,536, else the frame is broken (E_BAD_FRAME); without it, a "not now" as before', () => {
    const busy = { ...errorHeader('E_BUSY', 'not now'), retryMs: 500 }
    for (const place of [0, -1, 1.5, MAX_LINE_PLACE + 1, '3', null, JSON.parse('1e999') as number])
      assert.throws(
        () => parseResponse({ ...busy, place }),
        (e) => hasCode(e, 'E_BAD_FRAME'),
        String(place),
      )
    const read = (header: Record<string, unknown>) => {
      const r = parseResponse(header)
      return r.type === 'error' ? notNowOf(errorFromResponse(r)) : undefined
    }
    assert.deepEqual(read({ ...busy, place: MAX_LINE_PLACE, etaMs: 'later' }), { retryMs: 500, place: MAX_LINE_PLACE })
    assert.deepEqual(read(busy), { retryMs: 500, place: undefined })
    assert.equal(read({ ...errorHeader('E_BUSY', 'full'), place: 3 }), undefined, 'E_BUSY on accept: no "not now"')
  })
})
