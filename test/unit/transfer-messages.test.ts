// Requests and responses read from frame headers: valid ones taken (unknown fields ignored), bad ones refused
// naming the field, a "__proto__" key kept off the parsed object's prototype.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hasCode } from '../../src/core/errors.js'
import { parseRequest, parseResponse } from '../../src/core/transfer/messages.js'
import { ID } from '../helpers/frames.js'

describe('transfer messages', () => {
  it('accepts valid requests and ignores unknown fields', () => {
    assert.deepEqual(parseRequest({ type: 'manifest', id: ID, future: true }).type, 'manifest')
    assert.equal((parseRequest({ type: 'chunk', id: ID, index: 7 }) as { index: number }).index, 7)
  })

  const bad: Array<[string, Record<string, unknown>]> = [
    ['an uppercase id', { type: 'chunk', id: ID.toUpperCase(), index: 0 }],
    ['a 63-character id', { type: 'chunk', id: ID.slice(1), index: 0 }],
    ['a numeric id', { type: 'manifest', id: 5 }],
    ['a negative index', { type: 'chunk', id: ID, index: -1 }],
    ['a fractional index', { type: 'chunk', id: ID, index: 0.5 }],
    ['a missing index', { type: 'chunk', id: ID }],
    ['a string index', { type: 'chunk', id: ID, index: '1' }],
    ['an unknown type', { type: 'delete', id: ID }],
    ['no type', { id: ID }],
  ]
  for (const [what, header] of bad) {
    it(`refuses ${what} (E_BAD_REQUEST)`, () => {
      assert.throws(
        () => parseRequest(header),
        (e) => hasCode(e, 'E_BAD_REQUEST'),
      )
    })
  }

  it('says which field is wrong, and an unknown or missing type as such', () => {
    const message = (header: Record<string, unknown>): string => {
      try {
        parseRequest(header)
      } catch (err) {
        return (err as Error).message
      }
      throw new Error('accepted')
    }
    assert.match(message({ type: 'chunk', id: ID, index: -1 }), /^bad request: "index": index must not be negative$/)
    assert.equal(message({ type: 'delete', id: ID }), 'bad request: unknown or missing "type"')
    assert.equal(message({ id: ID }), 'bad request: unknown or missing "type"')
  })

  it('never lets a "__proto__" key of a header reach the parsed object\'s prototype', () => {
    const header = JSON.parse(`{"type":"chunk","id":"${ID}","index":1,"__proto__":{"polluted":true}}`) as Record<
      string,
      unknown
    >
    const parsed = parseRequest(header) as Record<string, unknown>
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype)
    assert.equal(parsed.polluted, undefined)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  it('refuses malformed responses as protocol errors (E_BAD_FRAME)', () => {
    assert.throws(
      () => parseResponse({ type: 'chunk', id: ID, index: 0 }),
      (e) => hasCode(e, 'E_BAD_FRAME'),
    )
    assert.throws(
      () => parseResponse({ type: 'error', code: 5 }),
      (e) => hasCode(e, 'E_BAD_FRAME'),
    )
    assert.equal(parseResponse({ type: 'error', code: 'E_NOT_FOUND', message: 'no' }).type, 'error')
    // Sizes are safe integers: 2^60 (or 1e999, which JSON reads as Infinity) is no size.
    for (const size of [2 ** 60, JSON.parse('1e999') as number])
      assert.throws(
        () => parseResponse({ type: 'chunk', id: ID, index: 0, size }),
        (e) => hasCode(e, 'E_BAD_FRAME'),
        String(size),
      )
  })
})
