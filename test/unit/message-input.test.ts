import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MessageInput } from '../../src/core/trust/message-input.js'
import { LENGTH_BYTES, MAX_RECORD_BYTES, writeLength } from '../../src/core/trust/records.js'

/** Messages framed as on the wire: | length, 3 bytes little-endian | bytes |. */
function framed(messages: Buffer[]): Buffer {
  const out = Buffer.alloc(messages.reduce((sum, m) => sum + LENGTH_BYTES + m.byteLength, 0))
  let at = 0
  for (const m of messages) {
    writeLength(out, at, m.byteLength)
    m.copy(out, at + LENGTH_BYTES)
    at += LENGTH_BYTES + m.byteLength
  }
  return out
}

const message = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: MAX_RECORD_BYTES }).map((n) => new Uint8Array(n).fill(n & 0xff)) },
)

const delivery = fc.record({
  messages: fc.array(message, { maxLength: 12 }).map((list) => list.map((m) => Buffer.from(m))),
  /** How much of each read the socket fills (of what the window offers), or a 'data' segment's length. */
  reads: fc.array(fc.integer({ min: 1, max: 3 * MAX_RECORD_BYTES }), { minLength: 1, maxLength: 40 }),
  viaSegments: fc.boolean(),
  /** Reading ahead starts after this many messages (as it does once a connection opens), or never. */
  readAheadAfter: fc.option(fc.nat({ max: 12 }), { nil: undefined }),
  /** The connection closes after this many messages (none: it stays open). */
  closeAfter: fc.option(fc.nat({ max: 12 }), { nil: undefined }),
  /** The connection refuses the length of this message (none: every length is accepted). */
  refuseAt: fc.option(fc.nat({ max: 11 }), { nil: undefined }),
})

describe('an encrypted connection’s input cut into messages (message-input.ts)', () => {
  it('hands on every whole message once, in order, its length checked just before, however the bytes arrive; nothing after a close or a refused length', () => {
    fc.assert(
      fc.property(delivery, ({ messages, reads, viaSegments, readAheadAfter, closeAfter, refuseAt }) => {
        const refused = refuseAt !== undefined && refuseAt < messages.length ? messages[refuseAt]!.byteLength : -1
        const got: Buffer[] = []
        const events: string[] = []
        let closed = false
        const input = new MessageInput({
          closed: () => closed,
          readAhead: () => readAheadAfter !== undefined && got.length >= readAheadAfter,
          checkLength: (length) => {
            events.push(`check ${length}`)
            if (length === refused) throw new Error(`refused ${length}`)
          },
          message: (bytes) => {
            assert.equal(closed, false, 'no message after the close')
            events.push(`message ${bytes.byteLength}`)
            got.push(Buffer.from(bytes)) // a view of the reused buffer: copied before the next read
            if (closeAfter !== undefined && got.length >= closeAfter) closed = true
          },
        })
        if (closeAfter === 0) closed = true
        const wire = framed(messages)
        let at = 0
        try {
          for (let r = 0; at < wire.byteLength && !closed; r++) {
            const want = r < 5000 ? reads[r % reads.length]! : wire.byteLength // bounded: tiny reads of big messages
            if (viaSegments) {
              const segment = Buffer.from(wire.subarray(at, at + want))
              at += segment.byteLength
              input.consume(segment)
            } else {
              const window = input.window()
              assert.ok(window.byteLength > 0, 'a window to read into')
              const n = wire.copy(window, 0, at, Math.min(wire.byteLength, at + Math.min(want, window.byteLength)))
              at += n
              input.added(n)
            }
          }
        } catch (err) {
          assert.match((err as Error).message, /^refused/) // the connection closes on it
        }
        const firstRefused = messages.findIndex((m) => m.byteLength === refused)
        const stop = Math.min(
          closeAfter ?? messages.length,
          firstRefused >= 0 ? firstRefused : messages.length,
          messages.length,
        )
        assert.deepEqual(got, messages.slice(0, stop))
        events.forEach((event, i) => {
          if (event.startsWith('message ')) assert.equal(events[i - 1], `check ${event.slice(8)}`, `event ${i}`)
        })
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses a length before any of its bytes are waited for', () => {
    const input = new MessageInput({
      closed: () => false,
      readAhead: () => false,
      checkLength: (length) => {
        if (length > 100) throw new Error(`refused ${length}`)
      },
      message: () => assert.fail('no message'),
    })
    const header = Buffer.alloc(LENGTH_BYTES)
    writeLength(header, 0, 101)
    assert.throws(() => input.consume(header), /refused 101/)
  })

  it('offers no more than the rest of the message and the next length unless reading ahead', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_RECORD_BYTES }),
        fc.boolean(),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (length, readAhead, fraction) => {
          const input = new MessageInput({
            closed: () => false,
            readAhead: () => readAhead,
            checkLength: () => undefined,
            message: () => undefined,
          })
          const header = Buffer.alloc(LENGTH_BYTES)
          writeLength(header, 0, length)
          const first = input.window()
          header.copy(first)
          input.added(LENGTH_BYTES)
          if (length === 0) return
          // Part of the body arrives, then the window is asked for again.
          const part = Math.floor(length * fraction)
          if (part > 0) {
            assert.ok(input.window().byteLength >= part)
            input.added(part)
          }
          const window = input.window()
          if (readAhead) assert.ok(window.byteLength >= length - part + LENGTH_BYTES)
          else assert.equal(window.byteLength, length - part + LENGTH_BYTES)
        },
      ),
      { numRuns: 500 },
    )
  })
})
