import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import type { DhtSocket } from 'hyperdht'
import { CHALLENGE_BYTES, DHT_HELLO, mutedServer, SILENT_ONCE_OPEN_MS } from '../../src/core/dht/greeting.js'
import { MAX_HELD_WHILE_PAUSED } from '../../src/core/dht/paused-intake.js'
import { DhtSession } from '../../src/core/dht/session.js'
import { PROOF_BYTES, swarmProof } from '../../src/core/trust/swarm-secret.js'

/**
 * DhtSession's resources — the engine's stream, the bytes held before the
 * session is established, queued writes and their callbacks, the handshake
 * and idle timers — have one owner and one release, whatever order data,
 * the stream opening, its close or error, our destroy, writes and timer
 * expiries come in. The stream is a stand-in (an EventEmitter with the
 * secret-stream surface DhtSession uses): a real one cannot be made to
 * close, fail or deliver bytes at each of the session's phases on demand;
 * the real engine is under test in test/cli/dht*.test.ts and
 * test/netns/two-sites.test.ts.
 */

class StandInStream extends EventEmitter {
  readonly remotePublicKey = randomBytes(32)
  readonly handshakeHash = randomBytes(64)
  /** What the engine's UDX stream says of the path: bytes from the other end, the round trip. */
  rawStream: { bytesReceived: number; rtt: number } | null = null
  readonly opened: Promise<boolean>
  openWith!: (ok: boolean) => void
  destroys = 0
  written: Buffer[] = []

  constructor() {
    super()
    this.opened = new Promise((resolve) => {
      this.openWith = resolve
    })
  }

  write(data: Buffer): boolean {
    this.written.push(data)
    return true
  }

  ends = 0
  end(): void {
    this.ends++
  }
  pause(): void {}
  resume(): void {}

  /** As secret-stream: destroying closes it ('close' once, a moment later). */
  destroy(): void {
    this.destroys++
    if (this.destroys === 1) setImmediate(() => this.emit('close'))
  }
}

/** The challenge an accepting session's greeting ended with (random bytes if it sent none yet). */
function challengeSent(stream: StandInStream): Buffer {
  const greeting = stream.written.find((w) => w.byteLength > CHALLENGE_BYTES)
  return greeting ? greeting.subarray(-CHALLENGE_BYTES) : randomBytes(CHALLENGE_BYTES)
}

const op = fc.oneof(
  fc.constant({ kind: 'open' as const }),
  fc.constant({ kind: 'open-fails' as const }),
  fc.record({
    kind: fc.constant('data' as const),
    what: fc.constantFrom('hello', 'proof', 'echo', 'wrong', 'frames', 'flood'),
    split: fc.nat(40),
  }),
  fc.constant({ kind: 'remote-close' as const }),
  fc.constant({ kind: 'error' as const }),
  fc.constant({ kind: 'destroy' as const }),
  fc.record({ kind: fc.constant('write' as const), bytes: fc.integer({ min: 1, max: 70_000 }) }),
  fc.record({ kind: fc.constant('idle' as const), ms: fc.integer({ min: 0, max: 5 }) }),
  fc.constant({ kind: 'end' as const }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 4 }) }),
  fc.constant({ kind: 'pause' as const }),
  fc.constant({ kind: 'resume' as const }),
)

describe('DhtSession ownership', () => {
  it('property: any interleaving releases the stream, the held bytes, the timers and every write callback exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 20 }),
        fc.array(op, { maxLength: 25 }),
        async (initiator, privateSwarm, handshakeTimeoutMs, ops) => {
          const stream = new StandInStream()
          const proofKey = privateSwarm ? randomBytes(32) : undefined
          const session = new DhtSession(stream as unknown as DhtSocket, { initiator, handshakeTimeoutMs, proofKey })
          let closes = 0
          let dataAfterClose = 0
          let idleAfterClose = 0
          let readyResolved = false
          let readyRejection: unknown
          session.on('close', () => closes++)
          session.on('data', () => {
            if (session.closed && closes > 0) dataAfterClose++
          })
          session.ready.then(
            () => {
              readyResolved = true
            },
            (err: unknown) => {
              readyRejection = err
            },
          )
          const callbacks: number[] = []
          for (const o of ops) {
            switch (o.kind) {
              case 'open':
                stream.openWith(true)
                break
              case 'open-fails':
                stream.openWith(false)
                break
              case 'data': {
                const bytes =
                  o.what === 'hello'
                    ? Buffer.concat([DHT_HELLO, randomBytes(CHALLENGE_BYTES)])
                    : o.what === 'proof'
                      ? Buffer.concat([
                          proofKey ? swarmProof(proofKey, stream.handshakeHash, !initiator) : randomBytes(PROOF_BYTES),
                          ...(initiator ? [randomBytes(CHALLENGE_BYTES)] : []),
                        ])
                      : o.what === 'echo'
                        ? challengeSent(stream)
                        : o.what === 'flood'
                          ? randomBytes(70_000)
                          : o.what === 'wrong'
                            ? randomBytes(12)
                            : randomBytes(100)
                const at = Math.min(o.split, bytes.byteLength)
                stream.emit('data', bytes.subarray(0, at))
                if (at < bytes.byteLength) stream.emit('data', bytes.subarray(at))
                break
              }
              case 'remote-close':
                stream.emit('close')
                break
              case 'error':
                stream.emit('error', new Error('reset'))
                break
              case 'destroy':
                session.destroy()
                break
              case 'write': {
                const slot = callbacks.push(0) - 1
                session.write(Buffer.alloc(o.bytes), () => {
                  callbacks[slot]!++
                })
                break
              }
              case 'idle':
                session.setTimeout(o.ms, () => {
                  if (session.closed) idleAfterClose++
                })
                break
              case 'end':
                session.end()
                break
              case 'wait':
                await sleep(o.ms)
                break
              case 'pause':
                session.pause()
                break
              case 'resume':
                session.resume()
                break
            }
            await new Promise(setImmediate)
          }
          session.destroy()
          // Every timer the session could have armed has run out by now.
          await sleep(handshakeTimeoutMs + 10)
          await new Promise(setImmediate)
          assert.equal(stream.destroys, 1, 'the stream is destroyed exactly once')
          assert.equal(closes, 1, "'close' is emitted exactly once")
          assert.equal(session.heldBytes, 0, 'no byte held after the close')
          assert.deepEqual(
            callbacks.filter((n) => n !== 1),
            [],
            `every write is called back exactly once: ${callbacks}`,
          )
          assert.equal(dataAfterClose, 0, 'no data after the close')
          assert.equal(idleAfterClose, 0, 'no idle timeout after the close')
          assert.ok(session.closedWith, 'closed with a reason')
          if (readyResolved) assert.equal(readyRejection, undefined)
          else assert.equal(readyRejection, session.closedWith, 'ready rejects with the reason the session closed')
          // Nothing an unestablished peer sent before its session reached the stream's writes but our own greeting/proof.
          if (!readyResolved)
            for (const w of stream.written)
              assert.ok(w.byteLength <= PROOF_BYTES + CHALLENGE_BYTES, 'no frame written before the session')
        },
      ),
      { numRuns: 300 },
    )
  })

  it('paused, it holds what comes (the engine has no window) and hands it over in order on resume; past the bound it closes', async () => {
    const stream = new StandInStream()
    const session = new DhtSession(stream as unknown as DhtSocket, { initiator: false, handshakeTimeoutMs: 1000 })
    const got: Buffer[] = []
    session.on('data', (data: Buffer) => got.push(data))
    stream.openWith(true)
    await sleep(0)
    stream.emit('data', challengeSent(stream))
    await session.ready
    session.pause()
    const sent = [randomBytes(10), randomBytes(20), randomBytes(30)]
    for (const data of sent) stream.emit('data', data)
    assert.deepEqual(got, [], 'nothing handed over while paused')
    assert.equal(session.heldBytes, 60)
    session.resume()
    assert.deepEqual(Buffer.concat(got), Buffer.concat(sent), 'in order')
    assert.equal(session.heldBytes, 0)
    session.pause()
    const piece = Buffer.alloc(64 * 1024)
    for (let sentBytes = 0; sentBytes <= MAX_HELD_WHILE_PAUSED && !session.closed; sentBytes += piece.byteLength)
      stream.emit('data', piece)
    assert.ok(session.closed, 'closed past the bound')
    assert.equal(session.closedWith?.code, 'E_TOO_LARGE')
    assert.equal(session.heldBytes, 0, 'what it held is let go')
    assert.equal(got.length, 3, 'none of it handed over')
  })

  it('a dialled connection that opens and then says nothing fails within openedTimeoutMs, not the whole handshake deadline', async () => {
    const stream = new StandInStream()
    const session = new DhtSession(stream as unknown as DhtSocket, {
      initiator: true,
      handshakeTimeoutMs: 10_000,
      openedTimeoutMs: 50,
    })
    const started = performance.now()
    stream.openWith(true)
    await assert.rejects(session.ready, /said nothing within 50 ms/)
    assert.ok(performance.now() - started < 5_000, 'well before the handshake deadline')
    assert.equal(session.silentOnceOpen, false, `silent ${SILENT_ONCE_OPEN_MS} ms or more only counts`)
    session.destroy()
  })

  it(`silentOnceOpen: the other end's bytes came, and not a byte of its greeting ${SILENT_ONCE_OPEN_MS} ms after our side opened; only then`, async () => {
    const end = async (opens: boolean, received: number, said: Buffer, afterMs: number): Promise<boolean> => {
      const stream = new StandInStream()
      stream.rawStream = { bytesReceived: received, rtt: 1 }
      const session = new DhtSession(stream as unknown as DhtSocket, { initiator: true, handshakeTimeoutMs: 10_000 })
      session.ready.catch(() => undefined)
      if (opens) stream.openWith(true)
      await sleep(0)
      if (said.byteLength > 0) stream.emit('data', said)
      await sleep(afterMs)
      session.destroy() // as the manifest race abandons a dial
      return session.silentOnceOpen
    }
    const long = SILENT_ONCE_OPEN_MS + 50
    const none = Buffer.alloc(0)
    assert.equal(await end(true, 64, none, long), true, 'its bytes came, no greeting: a mute server')
    assert.equal(await end(true, 64, none, 20), false, 'opened a moment ago: a greeting may be on its way')
    assert.equal(await end(true, 0, none, long), false, 'no byte from the other end: a path that never worked')
    assert.equal(await end(false, 64, none, long), false, 'never opened: a hole punch still going')
    assert.equal(await end(true, 64, DHT_HELLO, long), false, 'greeted: a p2pshare peer')
    assert.equal(await end(true, 64, DHT_HELLO.subarray(0, 3), long), false, 'part of a greeting: not mute')
  })

  it('the other side ending its half ends ours (no half-open session held until an idle timeout)', async () => {
    const stream = new StandInStream()
    const session = new DhtSession(stream as unknown as DhtSocket, { initiator: false, handshakeTimeoutMs: 10_000 })
    session.ready.catch(() => undefined)
    stream.openWith(true)
    await sleep(0)
    assert.equal(stream.ends, 0)
    stream.emit('end')
    assert.equal(stream.ends, 1)
    session.destroy()
  })

  it('mutedServer: waits 4 round trips when they are longer than SILENT_ONCE_OPEN_MS', () => {
    const at = { greetingBytes: 0, openForMs: 900, bytesReceived: 64, rttMs: 100 }
    assert.equal(mutedServer(at), true)
    assert.equal(mutedServer({ ...at, rttMs: 300 }), false, '900 ms is 3 round trips of 300')
    assert.equal(mutedServer({ ...at, openForMs: 1_200, rttMs: 300 }), true)
    assert.equal(mutedServer({ ...at, openForMs: undefined }), false)
    assert.equal(mutedServer({ ...at, bytesReceived: undefined }), false)
  })
})
