import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { encodeQuery, type QueryWant } from '../../src/core/discovery/announcement.js'
import type { Announced } from '../../src/core/discovery/query-answer.js'
import { QueryAnswerer } from '../../src/core/discovery/query-answerer.js'
import { silentLogger } from '../../src/core/log.js'
import { linkTo } from '../helpers/announcer-link.js'

const PEER = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const id = (n: number): string => n.toString(16).padStart(64, '0')
const storeOf = (files: number, peer = PEER): Announced => ({
  peer,
  files: Array.from({ length: files }, (_, n) => ({
    id: id(n),
    name: `f${n}.bin`,
    size: 4096,
    have: Bitfield.full(1),
  })),
})

interface QueryStep {
  kind: 'query'
  source: number
  cookie: boolean
  nonce: boolean
  bytes: number
  want: QueryWant
  /** Asked this many times in a row. */
  times: number
}

/** A step: a query (from one of a few sources, with its cookie or not), time passing, or a new announcement. */
const step = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record<QueryStep>({
      kind: fc.constant('query' as const),
      source: fc.integer({ min: 0, max: 2 }),
      cookie: fc.boolean(),
      nonce: fc.boolean(),
      bytes: fc.constantFrom(22, 200, 600, 900, 1200),
      want: fc.constantFrom<QueryWant>({}, { name: 'f1.bin' }, { id: id(2) }, { name: 'nobody.bin' }),
      times: fc.constantFrom(1, 5, 20, 40),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 5000 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('announce' as const), files: fc.integer({ min: 0, max: 40 }) }),
  },
)

describe("an answer's size known before it is made (query-answer.ts AnswerSizes)", () => {
  it('answers and refuses every query as an answerer that makes each answer afresh, and makes none it refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 20, maxLength: 80 }), async (steps) => {
        let now = 0
        let announced = storeOf(12)
        let made = 0
        /** The announcement as `remembering` sees it: one object until the next, each look at its files counted. */
        const counted = (a: Announced): Announced => ({
          peer: a.peer,
          get files() {
            made++
            return a.files
          },
        })
        let seen = counted(announced)
        // Small budgets, so that many queries are refused (a source's: 600 bytes a second, 2,400 at once).
        const budgets = {
          tcpPort: 47010,
          intervalMs: 5000,
          answerBytesPerSourcePerS: 600,
          answerBytesPerS: 4000,
          budgetClock: () => now,
          // The cookies' epochs on a clock that stands still: one ending between the two answerers' looks split them.
          now: () => 1_000_000_000_000,
        }
        // `remembering` sees one announcement object until the next; `afresh` a new copy at each look, so it never
        // finds an answer's size it kept (as the answerer made every answer before).
        const remembering = new QueryAnswerer(
          budgets,
          linkTo(() => seen),
          silentLogger(),
        )
        const afresh = new QueryAnswerer(
          budgets,
          linkTo(() => ({ ...announced })),
          silentLogger(),
        )
        /** The kinds of query asked of each announcement: an answer is made at most once per kind and notice reserved, or when it is sent. */
        const kinds = new Set<string>()
        let announcements = 0
        // What each answerer gave each source: the cookie it last sent (each answerer has its own key).
        const cookies = [new Map<number, string>(), new Map<number, string>()]
        const ask = async (answerer: QueryAnswerer, i: number, s: QueryStep) => {
          const sizes: number[] = []
          const cookie = s.cookie ? cookies[i]!.get(s.source) : undefined
          const tokens = { ...(cookie ? { cookie } : {}), ...(s.nonce ? { nonce: 'ab'.repeat(8) } : {}) }
          answerer.onMessage({
            bytes: s.bytes === 22 ? Buffer.from('{"v":1,"type":"query"}') : encodeQuery(s.want, s.bytes, tokens),
            from: { address: `10.0.0.${s.source}`, port: 9999, family: 4 },
            toHost: true,
            reply: async (payload) => {
              sizes.push(payload.length)
              const m = /"type":"cookie","cookie":"([0-9a-f]{32})"/.exec(payload.toString())
              if (m) cookies[i]!.set(s.source, m[1]!)
              return true
            },
          })
          await new Promise((resolve) => setImmediate(resolve))
          return sizes
        }
        for (const s of steps) {
          if (s.kind === 'wait') now += s.ms
          else if (s.kind === 'announce') {
            announced = storeOf(s.files, s.files % 2 === 0 ? PEER : `${PEER.slice(1)}0`)
            seen = counted(announced)
            announcements++
          } else {
            kinds.add(`${announcements}|${s.bytes}|${s.nonce}|${JSON.stringify(s.want)}`)
            for (let k = 0; k < s.times; k++)
              assert.deepEqual(
                await ask(remembering, 0, s),
                await ask(afresh, 1, s),
                'the same datagrams, of the same sizes',
              )
          }
        }
        assert.deepEqual(remembering.stats, afresh.stats)
        // Twice a kind: with a notice's bytes kept for it and without.
        assert.ok(
          made <= remembering.stats.answers + 2 * kinds.size,
          `${made} answers made, ${remembering.stats.answers} sent`,
        )
      }),
      { numRuns: 100 },
    )
  })
})
