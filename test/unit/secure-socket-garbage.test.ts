import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import fc from 'fast-check'
import { P2PError } from '../../src/core/errors.js'
import { SecureSocket } from '../../src/core/trust/secure-socket.js'
import { FakeSocket } from '../helpers/fake-socket.js'

/**
 * The handshake and record parsing against hostile bytes, in memory: any
 * bytes end in a P2PError close (never a throw, never data delivered), and
 * a real session with one byte altered anywhere delivers nothing at all.
 */

const keyPair = NoiseSecretStream.keyPair()
const ALLOWED = new Set(['E_AUTH', 'E_TOO_LARGE', 'E_TAMPERED', 'E_CLOSED'])

describe('secure socket: hostile bytes', () => {
  it('any bytes at an accepting side: a typed close or a wait for more, never a throw or data', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (segments) => {
        const fake = new FakeSocket()
        const s = SecureSocket.accept(fake.asSocket(), { keyPair, handshakeTimeoutMs: 60_000 })
        s.on('data', () => assert.fail('data from garbage'))
        for (const seg of segments) fake.feed(Buffer.from(seg))
        if (s.closedWith)
          assert.ok(s.closedWith instanceof P2PError && ALLOWED.has(s.closedWith.code), String(s.closedWith))
        s.destroy()
      }),
      { numRuns: 1000 },
    )
  })

  it('one byte altered anywhere in a real session: closed with a typed error, never altered data', async () => {
    // A clean session's bytes from the connecting side, recorded once.
    const clean = await session(undefined)
    assert.equal(clean.delivered, 'hello, server')
    await fc.assert(
      fc.asyncProperty(fc.nat(clean.bytes - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const run = await session({ at, xor })
        // Delivered whole and right (the flip hit nothing that matters: impossible here, but allowed), or nothing;
        // closed with a typed error, or still waiting for bytes (a length made longer: the handshake deadline ends it).
        assert.ok(run.delivered === '' || run.delivered === 'hello, server', `altered data delivered: ${run.delivered}`)
        if (run.error) assert.ok(ALLOWED.has(run.error.code), `${at}: ${run.error.code}`)
        assert.ok(run.delivered === '', `byte ${at} altered and the data still went through`)
      }),
      { numRuns: 150 },
    )
  })
})

/** A connecting and an accepting SecureSocket joined in memory; the connecting side's byte `at` XOR `xor`. */
async function session(
  flip: { at: number; xor: number } | undefined,
): Promise<{ delivered: string; error: P2PError | undefined; bytes: number }> {
  let sent = 0
  const toServer = new FakeSocket((bytes) => {
    if (flip && flip.at >= sent && flip.at < sent + bytes.byteLength) bytes[flip.at - sent]! ^= flip.xor
    sent += bytes.byteLength
    queueMicrotask(() => serverSide.feed(bytes))
  })
  const serverSide = new FakeSocket((bytes) => queueMicrotask(() => toServer.feed(bytes)))
  const initiator = SecureSocket.over(toServer.asSocket(), true, {
    keyPair: NoiseSecretStream.keyPair(),
    handshakeTimeoutMs: 60_000,
  })
  const server = SecureSocket.accept(serverSide.asSocket(), { keyPair, handshakeTimeoutMs: 60_000 })
  let delivered = ''
  server.on('data', (d: Buffer) => {
    delivered += d.toString()
  })
  initiator.write(Buffer.from('hello, server'))
  for (let i = 0; i < 50 && !server.closed && delivered.length < 13; i++)
    await new Promise((resolve) => setImmediate(resolve))
  const error = server.closedWith
  initiator.destroy()
  server.destroy()
  return { delivered, error, bytes: sent }
}
