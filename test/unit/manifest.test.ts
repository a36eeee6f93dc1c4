import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import {
  chunkCount,
  chunkLength,
  encodeManifest,
  type Manifest,
  manifestId,
  parseManifest,
  sha256Hex,
} from '../../src/core/manifest.js'

const hex = fc.stringMatching(/^[0-9a-f]{64}$/)
const manifestArb = fc
  .record({
    name: fc.constantFrom('a.bin', 'sample file é.bin', '🎉', '%2e%2e'),
    size: fc.integer({ min: 0, max: 50 * 4096 }),
    chunkSize: fc.constantFrom(4096, 8192, 65536),
    sha256: hex,
  })
  .chain((m) =>
    fc
      .array(hex, { minLength: chunkCount(m.size, m.chunkSize), maxLength: chunkCount(m.size, m.chunkSize) })
      .map((chunks): Manifest => ({ version: 1, ...m, chunks })),
  )

describe('manifest', () => {
  it('has the canonical form of the spec', () => {
    const m: Manifest = {
      version: 1,
      name: 'a',
      size: 5,
      chunkSize: 4096,
      chunks: ['a'.repeat(64)],
      sha256: 'b'.repeat(64),
    }
    assert.equal(
      encodeManifest(m).toString(),
      `{"version":1,"name":"a","size":5,"chunkSize":4096,"chunks":["${'a'.repeat(64)}"],"sha256":"${'b'.repeat(64)}"}`,
    )
    assert.equal(manifestId(encodeManifest(m)), sha256Hex(encodeManifest(m)))
  })

  it('round-trips: encode → parse → encode is identity', () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const bytes = encodeManifest(m)
        const parsed = parseManifest(bytes, { expectedId: manifestId(bytes) })
        assert.deepEqual(parsed, m)
        assert.ok(encodeManifest(parsed).equals(bytes))
      }),
      { numRuns: 300 },
    )
  })

  it('chunk lengths add up to the size, no empty last chunk', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e7 }), fc.constantFrom(4096, 65536, 1 << 20), (size, chunkSize) => {
        const n = chunkCount(size, chunkSize)
        let total = 0
        for (let i = 0; i < n; i++) {
          const len = chunkLength({ size, chunkSize }, i)
          assert.ok(len > 0)
          total += len
        }
        assert.equal(total, size)
      }),
    )
  })

  const good: Manifest = {
    version: 1,
    name: 'a',
    size: 5000,
    chunkSize: 4096,
    chunks: ['a'.repeat(64), 'c'.repeat(64)],
    sha256: 'b'.repeat(64),
  }
  const cases: Array<[string, string | Buffer]> = [
    ['whitespace', JSON.stringify(good, null, 1)],
    [
      'key order',
      JSON.stringify({ name: 'a', version: 1, size: 5000, chunkSize: 4096, chunks: good.chunks, sha256: good.sha256 }),
    ],
    ['trailing newline', `${encodeManifest(good).toString()}\n`],
    ['wrong chunk count', encodeManifest({ ...good, chunks: ['a'.repeat(64)] }).toString()],
    ['bad name', encodeManifest({ ...good, name: '../x' }).toString()],
    ['uppercase hash', encodeManifest({ ...good, sha256: 'B'.repeat(64) }).toString()],
    [
      'chunk size too small',
      encodeManifest({ ...good, chunkSize: 100, chunks: new Array(50).fill('a'.repeat(64)) }).toString(),
    ],
    ['extra field', encodeManifest(good).toString().replace('{', '{"x":1,')],
    ['__proto__', encodeManifest(good).toString().replace('{', '{"__proto__":{"polluted":1},')],
    ['not JSON', 'nope'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
    ['array', '[]'],
  ]
  for (const [label, text] of cases) {
    it(`rejects ${label} with E_BAD_MANIFEST`, () => {
      assert.throws(
        () => parseManifest(Buffer.from(text)),
        (err) => hasCode(err, 'E_BAD_MANIFEST'),
      )
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
    })
  }

  it('rejects a manifest that does not hash to the expected id', () => {
    assert.throws(
      () => parseManifest(encodeManifest(good), { expectedId: 'f'.repeat(64) }),
      (err) => hasCode(err, 'E_BAD_MANIFEST'),
    )
  })

  it('rejects one over the size limit before parsing', () => {
    assert.throws(
      () => parseManifest(encodeManifest(good), { maxBytes: 100 }),
      (err) => hasCode(err, 'E_TOO_LARGE'),
    )
  })

  it('arbitrary bytes throw only typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          parseManifest(bytes)
        } catch (err) {
          assert.ok(hasCode(err, 'E_BAD_MANIFEST') || hasCode(err, 'E_TOO_LARGE'), String(err))
        }
      }),
      { numRuns: 1000 },
    )
  })
})
