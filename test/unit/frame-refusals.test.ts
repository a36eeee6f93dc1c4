// What the frame decoder refuses, and how: lengths over the caps before anything is buffered, bad headers
// (E_BAD_FRAME or E_TOO_LARGE, nothing else), frames before a bad one still delivered, no prototype pollution.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { encodeFrame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { parseRequest } from '../../src/core/transfer/messages.js'
import { decodeAll, ID, limits } from '../helpers/frames.js'

describe('frame codec', () => {
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
