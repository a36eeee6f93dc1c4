// The frame codec's layout and decoding: the same frames whatever the cutting into segments or the buffers
// bodies are read into, and memory in proportion to the bytes that came, never to what a length claims.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { encodeFrame, type Frame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { decodeAll, limits } from '../helpers/frames.js'

const frameArb = fc.record({
  header: fc.dictionary(
    fc.string({ maxLength: 8 }).filter((k) => k !== 'size' && k !== '__proto__'),
    fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()),
    { maxKeys: 5 },
  ),
  body: fc.option(fc.uint8Array({ maxLength: 3000 }), { nil: undefined }),
})

describe('frame codec', () => {
  it('encodes the documented layout: u32 big-endian length, JSON header, body', () => {
    const frame = encodeFrame({ type: 'chunk', id: 'x', index: 1 }, Buffer.from('hey'))
    const json = '{"type":"chunk","id":"x","index":1,"size":3}'
    assert.equal(frame.readUInt32BE(0), json.length)
    assert.equal(frame.subarray(4, 4 + json.length).toString(), json)
    assert.equal(frame.subarray(4 + json.length).toString(), 'hey')
  })

  it('property: any cutting of a stream of frames into segments decodes to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.header, f.body)))
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
          const segments: Buffer[] = []
          let last = 0
          for (const p of [...points, stream.length]) {
            segments.push(stream.subarray(last, p))
            last = p
          }
          const decoded = decodeAll(segments)
          assert.equal(decoded.length, frames.length)
          decoded.forEach((d, i) => {
            const f = frames[i]!
            assert.deepEqual(Buffer.from(d.body ?? []), Buffer.from(f.body ?? []))
            assert.equal(d.body === undefined, f.body === undefined)
            for (const [k, v] of Object.entries(f.header)) assert.deepEqual(d.header[k], v)
          })
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: with its own body buffers starting tiny (they grow as bytes arrive), any cutting decodes the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 600 }),
        (frames, cuts, first) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.header, f.body)))
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
          const segments = [...points, stream.length].map((p, i, all) =>
            Buffer.from(stream.subarray(i === 0 ? 0 : all[i - 1]!, p)),
          )
          const decoded = decodeAll(segments, { ...limits, firstBodyBytes: first })
          assert.deepEqual(
            decoded.map((d) => Buffer.from(d.body ?? [])),
            frames.map((f) => Buffer.from(f.body ?? [])),
          )
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: reading bodies straight into bodyWindow() (as PeerClient does) decodes the same frames as pushing', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 30 }),
        (frames, reads) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.header, f.body)))
          // Odd sizes come from `allocate`, even ones go into the decoder's own (growing) buffers.
          const d = new FrameDecoder({
            ...limits,
            firstBodyBytes: 100,
            allocate: (size) => (size % 2 === 1 ? Buffer.alloc(size) : undefined),
          })
          const decoded: Frame[] = []
          // A socket that delivers at most `reads[i]` bytes per read, into whatever buffer the reader offers.
          for (let at = 0, i = 0; at < stream.length; i++) {
            const want = reads[i % reads.length]!
            const window = d.bodyWindow()
            const n = Math.min(want, stream.length - at, window?.length ?? Infinity)
            if (window) {
              stream.copy(window, 0, at, at + n)
              decoded.push(...d.filledDirectly(n))
            } else {
              decoded.push(...d.push(Buffer.from(stream.subarray(at, at + n))))
            }
            at += n
          }
          assert.equal(decoded.length, frames.length)
          for (const [i, got] of decoded.entries()) {
            assert.deepEqual(Buffer.from(got.body ?? []), Buffer.from(frames[i]!.body ?? []))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: a header claiming a huge body costs memory in proportion to the body bytes that actually came', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 20 }),
        (claim, pieces) => {
          const d = new FrameDecoder({ ...limits, firstBodyBytes: 1024 })
          d.push(encodeFrame({ type: 'manifest', size: claim }))
          let received = 0
          for (const n of pieces) {
            const piece = Buffer.alloc(Math.min(n, claim - received))
            if (piece.length === 0) break
            received += piece.length
            d.push(piece)
          }
          return received === claim || d.buffered <= Math.max(1024, 2 * received)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('copies a header sent one byte at a time once, not once per byte (a drip costs no more than its bytes)', () => {
    const frame = encodeFrame({ type: 'chunk', pad: 'x'.repeat(limits.maxHeaderBytes - 40) })
    let copied = 0
    const { concat } = Buffer
    const { copy } = Buffer.prototype
    Buffer.concat = (list, total) => {
      const out = concat(list, total)
      copied += out.length
      return out
    }
    Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
      const n = copy.apply(this, args)
      copied += n
      return n
    }
    const d = new FrameDecoder(limits)
    const frames: Frame[] = []
    try {
      for (let i = 0; i < frame.length; i++) frames.push(...d.push(frame.subarray(i, i + 1)))
    } finally {
      Buffer.concat = concat
      Buffer.prototype.copy = copy
    }
    assert.equal(frames.length, 1)
    assert.equal(frames[0]?.header.type, 'chunk')
    assert.ok(copied <= 2 * frame.length, `copied ${copied} bytes for a ${frame.length}-byte frame`)
  })

  it('property: a length prefix claiming a long header costs memory in proportion to the header bytes that came', () => {
    const wide = { maxHeaderBytes: 1 << 20, maxBodyBytes: 0 }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: wide.maxHeaderBytes }),
        fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 20 }),
        (claim, pieces) => {
          const d = new FrameDecoder(wide)
          const prefix = Buffer.alloc(4)
          prefix.writeUInt32BE(claim)
          d.push(prefix.subarray(0, 2))
          d.push(prefix.subarray(2))
          let received = 0
          for (const n of pieces) {
            const piece = Buffer.alloc(Math.min(n, claim - received - 1), 0x20) // never the whole header
            if (piece.length === 0) break
            received += piece.length
            d.push(piece)
            if (d.buffered > 4 + Math.max(256, 2 * received)) return false
          }
          return d.buffered > 0 // a begun frame is held: the frame deadline runs
        },
      ),
      { numRuns: 300 },
    )
  })
})
