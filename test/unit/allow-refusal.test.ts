import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { allowRefusalFrame, isRefusedUs, refusalInRecord } from '../../src/core/transfer/allow-refusal.js'
import { encodeFrame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { checkResponse } from '../../src/core/transfer/response-check.js'

/**
 * A server's refusal of our key (transfer/allow-refusal.ts) as a client decodes it: in a record where a private
 * swarm's proof was due (refusalInRecord), and among responses (checkResponse with the key the session reached).
 */

const PEER = '10.0.0.5:47010'
const PEER_ID = 'AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG-HHHHHHH'
const id = 'ab'.repeat(32)

/** The rule, said plainly: a record is a refusal when it is exactly one frame, an E_AUTH error without a body. */
function isRefusalModel(plain: Buffer): boolean {
  if (plain.length < 4) return false
  const n = plain.readUInt32BE(0)
  if (n === 0 || plain.length !== 4 + n) return false
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(4)))
  } catch {
    return false
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return false
  const h = header as Record<string, unknown>
  return (
    h.type === 'error' &&
    h.code === 'E_AUTH' &&
    typeof h.message === 'string' &&
    h.message.length <= 4096 &&
    !('size' in h) &&
    h.retryMs === undefined &&
    h.place === undefined
  )
}

const headers = fc.oneof(
  fc.record({
    type: fc.constant('error'),
    code: fc.constantFrom('E_AUTH', 'E_BUSY', 'E_NOT_FOUND', 'E_NOPE'),
    message: fc.string({ maxLength: 200 }),
  }),
  fc.record({ type: fc.constant('error'), code: fc.constant('E_AUTH'), message: fc.string(), size: fc.nat(8) }),
  fc.record({ type: fc.constant('error'), code: fc.constant('E_AUTH'), message: fc.integer() }),
  fc.record({ type: fc.constant('manifest'), id: fc.constant(id), size: fc.nat(8) }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
)

/** Frames as a sender may put them in one record: one or two, a body where the header says so, cut or not. */
const records = fc
  .tuple(fc.array(headers, { minLength: 1, maxLength: 2 }), fc.nat(), fc.boolean(), fc.uint8Array({ maxLength: 6 }))
  .map(([hs, cut, truncate, junk]) => {
    const whole = Buffer.concat(
      hs.map((h) =>
        'size' in h && typeof h.size === 'number' ? encodeFrame(h, Buffer.alloc(h.size)) : encodeFrame(h),
      ),
    )
    if (truncate) return whole.subarray(0, cut % (whole.length + 1))
    return junk.length > 0 && cut % 3 === 0 ? Buffer.concat([whole, junk]) : whole
  })

describe('a refusal where the swarm proof was due (refusalInRecord)', () => {
  it("the server's own refusal is one, naming the peer and its ID", () => {
    const err = refusalInRecord(allowRefusalFrame(), PEER, PEER_ID)
    assert.ok(isRefusedUs(err), String(err))
    assert.equal(err!.code, 'E_AUTH')
    assert.equal(err!.details?.peerId, PEER_ID)
    assert.match(
      err!.message,
      /^10\.0\.0\.5:47010 \(peer ID AAAAAAA-.*\) refuses us: our peer ID is not on its allow-list/,
    )
  })

  it('is a refusal exactly when the record holds one E_AUTH error frame without a body; never throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          records,
          fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
        ),
        (plain) => {
          const err = refusalInRecord(plain, PEER, PEER_ID)
          assert.equal(err !== undefined, isRefusalModel(plain), plain.toString('hex'))
          if (err) assert.ok(isRefusedUs(err))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it("the peer's words reach the message printable and cut short", () => {
    const words = `\u001b]52;c;evil\u0007\u202egnp.exe${'x'.repeat(500)}`
    const err = refusalInRecord(encodeFrame({ type: 'error', code: 'E_AUTH', message: words }), PEER, PEER_ID)!
    assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f\u202e]/u)
    assert.match(err.message, /\\x1b\]52;c;evil\\x07\\u202egnp\.exe/)
    assert.ok(err.message.length < 400, `${err.message.length} characters`)
  })
})

describe('a refusal among responses (checkResponse with the key the session reached)', () => {
  const asked = { type: 'chunk' as const, id, index: 0, size: 4, maxSize: 4 }

  it("an encrypted peer's E_AUTH, asked for or not, is its refusal; a plain peer's is the server's error as before", () => {
    const header = { type: 'error', code: 'E_AUTH', message: 'no' }
    for (const request of [undefined, asked]) {
      assert.throws(
        () => checkResponse(PEER, request, header, undefined, PEER_ID),
        (err) => isRefusedUs(err),
      )
    }
    assert.equal(checkResponse(PEER, asked, header, undefined).type, 'error', 'plain: the answer to the request')
    assert.throws(
      () => checkResponse(PEER, undefined, header, undefined),
      (err) => hasCode(err, 'E_AUTH') && !isRefusedUs(err),
    )
  })

  it('any other error of an encrypted peer, or an E_AUTH with a body, is what it was', () => {
    fc.assert(
      fc.property(headers, fc.option(fc.nat(8), { nil: undefined }), (header, size) => {
        let plainOutcome: unknown
        let keyedOutcome: unknown
        try {
          plainOutcome = checkResponse(PEER, asked, header, size).type
        } catch (err) {
          plainOutcome = hasCode(err) ? err.code : String(err)
        }
        try {
          keyedOutcome = checkResponse(PEER, asked, header, size, PEER_ID).type
        } catch (err) {
          if (isRefusedUs(err)) {
            assert.equal(header.type, 'error')
            assert.equal(header.code, 'E_AUTH')
            assert.equal(size, undefined)
            return
          }
          keyedOutcome = hasCode(err) ? err.code : String(err)
        }
        assert.deepEqual(keyedOutcome, plainOutcome, JSON.stringify({ header, size }))
      }),
      { numRuns: 1000 },
    )
  })
})

// The frame decoder reads the server's refusal as any client would (no hidden field, no body).
describe("the server's refusal frame", () => {
  it('is the §3 error shape: {"type":"error","code":"E_AUTH","message":…}, no body', () => {
    const [frame, ...rest] = new FrameDecoder({ maxHeaderBytes: 16 * 1024, maxBodyBytes: 0 }).push(allowRefusalFrame())
    assert.equal(rest.length, 0)
    assert.deepEqual(Object.keys(frame!.header).sort(), ['code', 'message', 'type'])
    assert.equal(frame!.header.code, 'E_AUTH')
    assert.equal(frame!.body, undefined)
  })
})
