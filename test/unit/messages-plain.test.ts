import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import type { Header } from '../../src/core/transfer/frame-header.js'
import {
  parseRequest,
  parseRequestBySchema,
  parseResponse,
  parseResponseBySchema,
} from '../../src/core/transfer/messages.js'

/**
 * The plain paths of messages.ts against the schemas they stand in for: on
 * the headers peers send, and on the same with one field removed, replaced,
 * added or pushed to a boundary, parseRequest and parseResponse give what
 * the schema alone gives (the same header, or the same error).
 */

const ID = 'ab'.repeat(32)

const bases: Header[] = [
  { type: 'manifest', id: ID },
  { type: 'chunk', id: ID, index: 3 },
  { type: 'manifest', id: ID, size: 1234 },
  { type: 'chunk', id: ID, index: 0, size: 1_048_576 },
  { type: 'error', code: 'E_NOT_FOUND', message: 'no such file' },
  { type: 'error', code: 'E_BUSY', message: 'not now', retryMs: 250 },
  { type: 'error', code: 'E_BUSY', message: 'not now', retryMs: 250, place: 3 },
]

/** Values at and past each field's bounds, by field. */
const bounds: Record<string, unknown[]> = {
  type: ['manifest', 'chunk', 'error', 'Chunk', 'query', ''],
  id: [ID, 'AB'.repeat(32), 'a'.repeat(63), 'a'.repeat(65), `${'a'.repeat(63)}\n`],
  index: [-1, 0, 1.5, 2 ** 53 - 1, 2 ** 53, 1e21],
  size: [-1, 0, 0.5, 2 ** 53 - 1, 2 ** 53, 1e21],
  code: ['E_BUSY', '', 'x'.repeat(64), 'x'.repeat(65), 'E_NOPE'],
  message: ['', 'x'.repeat(4096), 'x'.repeat(4097), '\u202e'],
  retryMs: [-1, 0, 60_000, 60_001, 0.5],
  place: [0, 1, 65_536, 65_537, 1.5],
}
const anyValue = fc.constantFrom<unknown>(null, true, false, [], {}, [1], { a: 1 }, 'x', 7, -0)
const fields = [...Object.keys(bounds), 'extra']

const mutated: fc.Arbitrary<Header> = fc
  .record({
    base: fc.constantFrom(...bases),
    changes: fc.array(
      fc.record({
        field: fc.constantFrom(...fields),
        value: fc.oneof(fc.constant(undefined), anyValue, fc.constantFrom(...bounds.index!, ...bounds.code!)),
        bound: fc.boolean(),
      }),
      { maxLength: 2 },
    ),
    proto: fc.boolean(),
  })
  .map(({ base, changes, proto }) => {
    // A "__proto__" field: JSON.parse makes it an own field, which an object literal cannot.
    const h = proto ? (JSON.parse('{"__proto__":{"polluted":1}}') as Header) : {}
    Object.assign(h, base)
    for (const c of changes) {
      const atBound = bounds[c.field]
      const value =
        c.bound && atBound ? atBound[Math.abs(JSON.stringify(c.value)?.length ?? 0) % atBound.length] : c.value
      if (value === undefined) delete h[c.field]
      else h[c.field] = value
    }
    return h
  })

/** A header as it arrives: through JSON, as framing.ts parses it, so that only what JSON can say reaches the parse. */
function received(h: Header): Header {
  const text = JSON.stringify(h)
  return JSON.parse(Object.hasOwn(h, '__proto__') ? text.replace('{', '{"__proto__":{"polluted":1},') : text) as Header
}

function outcome(parse: (h: Header) => unknown, h: Header): unknown {
  try {
    return { header: parse(h) }
  } catch (err) {
    assert.ok(hasCode(err), `not a P2PError: ${String(err)}`)
    return { code: err.code, error: err.message }
  }
}

describe('messages: the schema-free check of usual headers', () => {
  it('property: parseRequest and parseResponse give what the schemas alone give', () => {
    let accepted = 0
    fc.assert(
      fc.property(mutated, (sent) => {
        const h = received(sent)
        const request = outcome(parseRequest, h)
        const response = outcome(parseResponse, h)
        assert.deepEqual(request, outcome(parseRequestBySchema, received(sent)))
        assert.deepEqual(response, outcome(parseResponseBySchema, received(sent)))
        if ('header' in (response as object)) accepted++
      }),
      { numRuns: 3000 },
    )
    assert.ok(accepted > 300, `too few accepted headers generated (${accepted}): the property tests little`)
  })

  it('the usual headers take the plain path: the same object comes back', () => {
    for (const base of bases) {
      const h = received(base)
      const parse = 'size' in base || base.type === 'error' ? parseResponse : parseRequest
      assert.equal(parse(h), h, JSON.stringify(base))
    }
  })
})
