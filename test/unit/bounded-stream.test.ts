import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import fc from 'fast-check'
import { boundedSecretStreams, MAX_DHT_MESSAGE_BYTES, MAX_DHT_WRITE_BYTES } from '../../src/core/dht/bounded-stream.js'
import { LENGTH_PREFIX_BYTES, MessageLengths } from '../../src/core/dht/message-lengths.js'

const MAX_LENGTH = 0xffffff // what 3 bytes can say

/** Messages framed as secret-stream frames them: a 3-byte little-endian length, then the bytes. */
function framed(lengths: number[]): Buffer {
  return Buffer.concat(
    lengths.map((length) => {
      const message = Buffer.alloc(LENGTH_PREFIX_BYTES + length, 0xab)
      message.writeUIntLE(length, 0, LENGTH_PREFIX_BYTES)
      return message
    }),
  )
}

/** `bytes` cut at `cuts` (positions, any order, repeats allowed). */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b)
  return [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.byteLength))
}

describe('MessageLengths: secret-stream framing followed across chunks', () => {
  it('finds the first message over the bound at its length prefix, however the stream is cut, and never one within it', () => {
    const max = 64
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max }), { maxLength: 20 }),
        fc.option(fc.integer({ min: max + 1, max: MAX_LENGTH }), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (within, over, cuts) => {
          // Only the over-long message's prefix and a few of its bytes: a peer need send no more to be caught.
          const head = framed(within)
          const tail = over === undefined ? Buffer.alloc(0) : framed([over]).subarray(0, LENGTH_PREFIX_BYTES + 5)
          const lengths = new MessageLengths(max)
          const prefixEnd = head.byteLength + LENGTH_PREFIX_BYTES
          let seenAt: number | undefined
          let expectedAt: number | undefined
          let read = 0
          for (const chunk of cut(Buffer.concat([head, tail]), cuts)) {
            read += chunk.byteLength
            if (over !== undefined && expectedAt === undefined && read >= prefixEnd) expectedAt = read
            const found = lengths.scan(chunk)
            if (found !== undefined && seenAt === undefined) {
              assert.equal(found, over)
              seenAt = read
            }
          }
          // Seen in the chunk that completed its prefix (not before, not later), or never when there is none.
          assert.equal(seenAt, expectedAt)
          if (over !== undefined) assert.equal(lengths.scan(Buffer.alloc(1)), over, 'stays over')
        },
      ),
    )
  })

  it('reads lengths little-endian: 0x010000 is 65,536', () => {
    const lengths = new MessageLengths(65_535)
    assert.equal(lengths.scan(Buffer.from([0x00, 0x00, 0x01])), 65_536)
    assert.equal(new MessageLengths(65_536).scan(Buffer.from([0x00, 0x00, 0x01])), undefined)
  })
})

/** Two of the engine's Noise streams joined by their raw streams (no DHT, no socket): `b` the bounded one. */
function pair(): { a: NoiseSecretStream; b: NoiseSecretStream } {
  const a = new NoiseSecretStream(true, null)
  const b = boundedSecretStreams(NoiseSecretStream)(false, null)
  const raw = (s: NoiseSecretStream) => (s as unknown as { rawStream: NodeJS.ReadWriteStream }).rawStream
  raw(a).pipe(raw(b)).pipe(raw(a))
  for (const s of [a, b]) s.on('error', () => undefined)
  return { a, b }
}

describe('boundedSecretStreams: the engine stream, bounded', () => {
  it('passes the largest message a p2pshare peer sends, and closes with E_TOO_LARGE at one byte more', async () => {
    const { a, b } = pair()
    const plain = MAX_DHT_WRITE_BYTES
    a.write(Buffer.alloc(plain, 1))
    const [data] = (await once(b, 'data')) as [Buffer]
    assert.equal(data.byteLength, plain)
    const outcome = new Promise<unknown>((resolve) => {
      b.once('error', resolve)
      b.once('data', resolve)
    })
    a.write(Buffer.alloc(plain + 1, 2))
    const err = (await outcome) as Error & { code?: string; details?: { messageBytes?: number } }
    assert.ok(err instanceof Error, 'not delivered')
    assert.equal(err.code, 'E_TOO_LARGE')
    assert.equal(err.details?.messageBytes, MAX_DHT_MESSAGE_BYTES + 1)
    a.destroy()
  })
})
