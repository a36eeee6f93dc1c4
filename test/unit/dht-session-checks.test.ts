import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { acceptedRemoteKey, streamFailure } from '../../src/core/dht/session-checks.js'
import { hasCode, P2PError } from '../../src/core/errors.js'

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b))

describe("a DHT session's checks of the other side", () => {
  it('accept exactly the dialled key, and only an allowed one', () => {
    fc.assert(
      fc.property(key, key, fc.boolean(), (reached, dialled, allowed) => {
        const rules = { expectedRemoteKey: dialled, allow: () => allowed }
        let outcome: unknown
        try {
          outcome = acceptedRemoteKey(reached, rules, 'a peer')
        } catch (err) {
          outcome = err
        }
        if (!reached.equals(dialled)) {
          assert.ok(hasCode(outcome, 'E_AUTH') && outcome.details?.keyMismatch === true, 'another key is refused')
        } else if (!allowed) {
          assert.ok(hasCode(outcome, 'E_AUTH') && outcome.details?.notAllowed === true, 'a key not allowed is refused')
        } else assert.equal(outcome, reached)
      }),
    )
  })

  it('refuse a stream that reached no key, and take any key without rules', () => {
    assert.throws(
      () => acceptedRemoteKey(undefined, {}, 'a peer'),
      (err) => hasCode(err, 'E_AUTH'),
    )
    assert.throws(
      () => acceptedRemoteKey(null, {}, 'a peer'),
      (err) => hasCode(err, 'E_AUTH'),
    )
    const k = Buffer.alloc(32, 7)
    assert.equal(acceptedRemoteKey(k, {}, 'a peer'), k)
  })

  it("map the engine's errors to ours: an oversized message stays E_TOO_LARGE, the rest are E_CLOSED", () => {
    const tooLarge = new P2PError('E_TOO_LARGE', 'a message of 99999999 bytes', { bytes: 1 }) // bounded-stream.ts
    const big = streamFailure(tooLarge, 'a peer')
    assert.equal(big.code, 'E_TOO_LARGE')
    assert.deepEqual(big.details, { bytes: 1 })
    const reset = streamFailure(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'a peer')
    assert.equal(reset.code, 'E_CLOSED')
    assert.deepEqual(reset.details, { dhtCode: 'ECONNRESET' })
    assert.equal(streamFailure(new Error('gone'), 'a peer').code, 'E_CLOSED')
    // Only our own error keeps its code: an engine error that merely names it is a closed connection.
    assert.equal(streamFailure(Object.assign(new Error('x'), { code: 'E_TOO_LARGE' }), 'a peer').code, 'E_CLOSED')
  })
})
