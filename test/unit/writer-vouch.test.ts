import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import {
  decodeWriterVouch,
  encodeWriterVouch,
  maxWriterVouchBytes,
  type WriterVouch,
} from '../../src/core/writer-vouch.js'

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })

/** A vouch for `count` chunks with any writer, file and verified set. */
const vouchOf = (count: number) =>
  fc.record({
    id: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
    writer: fc.record({
      boot: fc.uuid(),
      pid: fc.integer({ min: 1, max: 2 ** 22 }),
      start: fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
    }),
    data: fc.record({ dev: int64, ino: int64 }),
    verified: fc.array(fc.boolean(), { minLength: count, maxLength: count }).map((bits) => {
      const field = new Bitfield(count)
      for (const [i, b] of bits.entries()) if (b) field.set(i)
      return field
    }),
  })

const withCount = fc.integer({ min: 1, max: 3000 }).chain((count) => fc.tuple(fc.constant(count), vouchOf(count)))

function same(a: WriterVouch, b: WriterVouch | undefined): void {
  assert.ok(b)
  assert.equal(b.id, a.id)
  assert.deepEqual({ ...b.writer }, { ...a.writer })
  assert.deepEqual({ ...b.data }, { ...a.data })
  assert.deepEqual([...b.verified.bytes], [...a.verified.bytes])
}

describe('data.vouch: a writer in another process vouching for its chunks (codec)', () => {
  it('decodes what it encodes, for any writer, any 64-bit identity and any verified set, within its size bound (property)', () => {
    fc.assert(
      fc.property(withCount, ([count, vouch]) => {
        const bytes = encodeWriterVouch(vouch)
        assert.ok(bytes.length <= maxWriterVouchBytes(count), `${bytes.length} > ${maxWriterVouchBytes(count)}`)
        same(vouch, decodeWriterVouch(bytes, count))
      }),
    )
  })

  it('refuses a vouch for another chunk count, with bits set past the end, or spelled any other way (property)', () => {
    fc.assert(
      fc.property(withCount, fc.integer({ min: 1, max: 3000 }), ([count, vouch], other) => {
        const bytes = encodeWriterVouch(vouch)
        if (Math.ceil(other / 8) !== Math.ceil(count / 8)) assert.equal(decodeWriterVouch(bytes, other), undefined)
        const json = JSON.parse(bytes.toString()) as Record<string, unknown>
        const variants: unknown[] = [
          { ...json, version: 2 },
          { ...json, id: 'A'.repeat(64) },
          { ...json, id: undefined },
          { ...json, extra: 1 },
          { ...json, pid: 0 },
          { ...json, pid: '1' },
          { ...json, start: '-1' },
          { ...json, ino: '1e3' },
          { ...json, boot: 'not a boot id!' },
          { ...json, verified: `${json.verified as string}A` },
          Object.fromEntries(Object.entries(json).filter(([k]) => k !== 'dev')),
          [json],
          null,
        ]
        for (const v of variants) assert.equal(decodeWriterVouch(Buffer.from(JSON.stringify(v)), count), undefined)
      }),
    )
    const dirty = Buffer.from(
      JSON.stringify({
        version: 1,
        id: 'a'.repeat(64),
        boot: 'b',
        pid: 1,
        start: '1',
        dev: '1',
        ino: '1',
        verified: 'AQ==',
      }),
    )
    assert.ok(decodeWriterVouch(dirty, 8), 'bit 7 of 8 chunks is in range')
    assert.equal(decodeWriterVouch(dirty, 7), undefined, 'bit 7 of 7 chunks is past the end')
  })

  it('never throws on any bytes: they are a vouch or nothing (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (bytes, count) => {
        const v = decodeWriterVouch(bytes, count)
        assert.ok(v === undefined || v.verified.length === count)
      }),
    )
  })
})
