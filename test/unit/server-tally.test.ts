import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Header } from '../../src/core/transfer/frame-header.js'
import { ServerTally } from '../../src/core/transfer/server-tally.js'

const codes = ['E_NOT_FOUND', 'E_BUSY', 'E_TIMEOUT']
const header: fc.Arbitrary<Header> = fc.oneof(
  fc.record({ type: fc.constant('chunk'), index: fc.nat(9), size: fc.nat(4096) }),
  fc.record({ type: fc.constant('manifest'), size: fc.nat(4096) }),
  fc.record({ type: fc.constant('error'), code: fc.constantFrom(...codes), message: fc.string() }),
  // An error header without a string code is counted under no code.
  fc.record({ type: fc.constant('error'), code: fc.oneof(fc.integer(), fc.constant(undefined)) }),
)
const event = fc.oneof(
  fc.constant({ kind: 'request' as const }),
  fc.constant({ kind: 'readAheadReturned' as const }),
  fc.record({ kind: fc.constant('error' as const), code: fc.constantFrom(...codes) }),
  fc.record({ kind: fc.constant('answered' as const), header, bodyBytes: fc.nat(1 << 20) }),
)

describe('what a chunk server counts itself (server-tally.ts)', () => {
  it('counts requests, give-backs, chunks and their bytes, and errors by code (reported or answered); copies out', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const tally = new ServerTally()
        const expected = { requests: 0, readAheadReturned: 0, chunksServed: 0, bytesServed: 0 }
        const errors: Record<string, number> = {}
        for (const e of events) {
          if (e.kind === 'request') {
            tally.request()
            expected.requests++
          } else if (e.kind === 'readAheadReturned') {
            tally.readAheadReturned()
            expected.readAheadReturned++
          } else if (e.kind === 'error') {
            tally.error(e.code)
            errors[e.code] = (errors[e.code] ?? 0) + 1
          } else {
            tally.answered(e.header, e.bodyBytes)
            if (e.header.type === 'chunk') {
              expected.chunksServed++
              expected.bytesServed += e.bodyBytes
            } else if (e.header.type === 'error' && typeof e.header.code === 'string') {
              errors[e.header.code] = (errors[e.header.code] ?? 0) + 1
            }
          }
        }
        const stats = tally.stats
        for (const [key, value] of Object.entries(expected))
          assert.equal(stats[key as keyof typeof expected], value, key)
        assert.deepEqual(stats.errors, errors)
        // What only the server reports stays 0.
        for (const key of ['connections', 'refusedBusy', 'refusedAuth', 'violations', 'notNow'] as const) {
          assert.equal(stats[key], 0)
        }
        // A snapshot: changing it changes nothing counted.
        stats.requests++
        stats.errors.E_BUSY = 99
        assert.deepEqual(tally.stats, { ...stats, requests: expected.requests, errors })
      }),
      { numRuns: 500 },
    )
  })
})
