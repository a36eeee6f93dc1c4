import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { type AskedFor, checkResponse, isViolation } from '../../src/core/transfer/response-check.js'

const ids = ['a'.repeat(64), 'b'.repeat(64)]
const asked: fc.Arbitrary<AskedFor> = fc.record({
  type: fc.constantFrom('manifest' as const, 'chunk' as const),
  id: fc.constantFrom(...ids),
  index: fc.integer({ min: 0, max: 3 }),
  size: fc.option(fc.integer({ min: 0, max: 2048 }), { nil: undefined }),
  maxSize: fc.integer({ min: 0, max: 4096 }),
})
const answer = fc.oneof(
  fc.record({ type: fc.constant('manifest'), id: fc.constantFrom(...ids), size: fc.integer({ min: 0, max: 8192 }) }),
  fc.record({
    type: fc.constant('chunk'),
    id: fc.constantFrom(...ids),
    index: fc.integer({ min: 0, max: 3 }),
    size: fc.integer({ min: 0, max: 8192 }),
  }),
  fc.record({ type: fc.constant('error'), code: fc.constantFrom('E_NOT_FOUND', 'E_BUSY'), message: fc.string() }),
)

/** The rule, said plainly: what a response may be, given what was asked. */
function allowed(request: AskedFor | undefined, header: Record<string, unknown>, body: number | undefined): boolean {
  if (header.type === 'error') return body === undefined
  if (!request || header.type !== request.type || header.id !== request.id) return false
  if (header.type === 'chunk' && header.index !== request.index) return false
  const size = header.size as number
  return (request.size === undefined || size === request.size) && size <= request.maxSize
}

describe('a response header against the request it is due for (response-check.ts)', () => {
  it('is accepted exactly when it answers that request within its size; else a violation, or the server’s error', () => {
    fc.assert(
      fc.property(
        fc.option(asked, { nil: undefined }),
        answer,
        fc.option(fc.integer({ min: 0, max: 8192 }), { nil: undefined }),
        (request, header, bodyForError) => {
          // A manifest or chunk response always has a body of its declared size; an error may carry a stray one.
          const body = header.type === 'error' ? bodyForError : (header.size as number)
          let accepted = false
          try {
            const response = checkResponse('peer', request, header, body)
            accepted = true
            assert.equal(response.type, header.type)
          } catch (err) {
            assert.ok(hasCode(err), String(err))
            // The only refusal that is not the peer's violation: its own error frame (with no body).
            if (!isViolation(err)) assert.equal(header.type, 'error')
            else assert.match(err.code, /^E_(BAD_FRAME|TOO_LARGE)$/)
          }
          // An error frame with no body and nothing asked is the server's refusal on accept: thrown, not accepted.
          const expected = request === undefined && header.type === 'error' ? false : allowed(request, header, body)
          assert.equal(accepted, expected, JSON.stringify({ request, header, body }))
        },
      ),
      { numRuns: 3000 },
    )
  })
})
