import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { encodeFrame, type Frame, FrameDecoder, type FrameLimits } from '../../src/core/transfer/framing.js'
import { parseRequest, parseResponse } from '../../src/core/transfer/messages.js'

const limits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1 << 20 }
const ID = 'ab'.repeat(32)

function decodeAll(segments: Buffer[], l: FrameLimits = limits): Frame[] {
  const d = new FrameDecoder(l)
  return segments.flatMap((s) => d.push(s))
}

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

  it('property: arbitrary bytes never throw anything but E_BAD_FRAME or E_TOO_LARGE', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (segments) => {
        const d = new FrameDecoder({ maxHeaderBytes: 512, maxBodyBytes: 4096 })
        try {
          for (const s of segments) d.push(Buffer.from(s))
          return d.buffered <= 512 + 4096 + 4
        } catch (err) {
          return hasCode(err, 'E_BAD_FRAME') || hasCode(err, 'E_TOO_LARGE')
        }
      }),
      { numRuns: 3000 },
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

  it('checkHeader refuses a frame before its body is allocated or read; frames before it are still delivered', () => {
    let allocations = 0
    const seen: Array<number | undefined> = []
    const d = new FrameDecoder({
      ...limits,
      allocate: (size) => {
        allocations++
        return Buffer.alloc(size)
      },
      checkHeader: (header, size) => {
        seen.push(size)
        if (header.lie === true) throw new P2PError('E_BAD_FRAME', `declared ${size} bytes`)
      },
    })
    const frames = d.push(
      Buffer.concat([encodeFrame({ n: 1 }, Buffer.from('ok')), encodeFrame({ lie: true }, Buffer.alloc(1000))]),
    )
    assert.equal(frames.length, 1)
    assert.equal(allocations, 1)
    assert.deepEqual(seen, [2, 1000])
    assert.ok(hasCode(d.failure, 'E_BAD_FRAME'))
    assert.equal(d.bodyWindow(), undefined)
    assert.throws(
      () => d.push(Buffer.from('x')),
      (e) => hasCode(e, 'E_BAD_FRAME'),
    )
  })

  it('refuses a length prefix of 0xFFFFFFFF (or anything over the cap) before buffering the header', () => {
    const d = new FrameDecoder(limits)
    assert.throws(
      () => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7b])),
      (e) => hasCode(e, 'E_TOO_LARGE'),
    )
    assert.throws(
      () => d.push(Buffer.from('more')),
      (e) => hasCode(e, 'E_TOO_LARGE'),
      'keeps failing',
    )
  })

  it('accepts a header exactly at the cap and refuses cap + 1', () => {
    const at = (n: number) => {
      const pad = 'x'.repeat(n - '{"p":""}'.length)
      const json = Buffer.from(`{"p":"${pad}"}`)
      assert.equal(json.length, n)
      const prefix = Buffer.alloc(4)
      prefix.writeUInt32BE(n)
      return Buffer.concat([prefix, json])
    }
    assert.equal(decodeAll([at(100)], { maxHeaderBytes: 100, maxBodyBytes: 0 }).length, 1)
    assert.throws(
      () => decodeAll([at(101)], { maxHeaderBytes: 100, maxBodyBytes: 0 }),
      (e) => hasCode(e, 'E_TOO_LARGE'),
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

  const bad: Array<[string, Buffer, string]> = [
    ['a zero-length header', Buffer.from([0, 0, 0, 0]), 'E_BAD_FRAME'],
    ['a header that is not JSON', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('abc')]), 'E_BAD_FRAME'],
    ['invalid UTF-8', Buffer.concat([Buffer.from([0, 0, 0, 4]), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]), 'E_BAD_FRAME'],
    ['a JSON array', Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('[]')]), 'E_BAD_FRAME'],
    ['a negative size', encodeFrame({ size: -1 }), 'E_BAD_FRAME'],
    ['a fractional size', encodeFrame({ size: 1.5 }), 'E_BAD_FRAME'],
    ['a body over the cap', encodeFrame({ size: (1 << 20) + 1 }), 'E_TOO_LARGE'],
  ]
  for (const [what, bytes, code] of bad) {
    it(`refuses ${what} (${code})`, () => {
      assert.throws(
        () => decodeAll([bytes]),
        (e) => hasCode(e, code as 'E_BAD_FRAME'),
      )
    })
  }

  it('regression (found by npm run fuzz): a good frame and garbage in one segment — the frame is delivered, then the failure', () => {
    const d = new FrameDecoder(limits)
    const frames = d.push(Buffer.concat([encodeFrame({ v: [] }, Buffer.alloc(0)), Buffer.from([0, 16, 0, 1])]))
    assert.equal(frames.length, 1)
    assert.ok(hasCode(d.failure, 'E_TOO_LARGE'))
    assert.throws(
      () => d.push(Buffer.from('x')),
      (e) => hasCode(e, 'E_TOO_LARGE'),
    )
  })

  it('decodes a zero-length body and nested or hostile keys without prototype pollution', () => {
    const [frame] = decodeAll([encodeFrame({ type: 'chunk' }, Buffer.alloc(0))])
    assert.equal(frame!.body!.length, 0)
    const hostile = Buffer.from(
      `{"__proto__":{"polluted":1},"constructor":{"prototype":{"p":1}},"type":"chunk","id":"${ID}","index":0}`,
    )
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(hostile.length)
    const [h] = decodeAll([Buffer.concat([prefix, hostile])])
    assert.equal(parseRequest(h!.header).type, 'chunk')
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    const deep = Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`)
    prefix.writeUInt32BE(deep.length)
    assert.throws(
      () => decodeAll([Buffer.concat([prefix, deep])]),
      (e) => hasCode(e, 'E_BAD_FRAME'),
    )
  })
})

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
