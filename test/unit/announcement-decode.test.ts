// Datagrams as a listener and an announcer decode them: what is refused and with which reason,
// a chunk count that must agree with the size, decodeQuery beside decodeDatagram.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { chunksAgreeWithSize, encodeCookie, encodeMore, encodeQuery } from '../../src/core/discovery/announcement.js'
import { decodeDatagram, decodeQuery } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement-encode.js'
import { hasCode } from '../../src/core/errors.js'
import { file, id, PEER } from '../helpers/announcements.js'

describe('announcements', () => {
  it("property: every real file's chunk count agrees with its size, and an accepted count never exceeds size / 4 KiB + 1", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 46 }),
        fc.integer({ min: 4096, max: 2 ** 26 }),
        fc.integer({ min: 0, max: 2 ** 25 }),
        (size, chunkSize, claimed) => {
          const real = Math.ceil(size / chunkSize)
          if (real <= 2 ** 24)
            assert.ok(chunksAgreeWithSize(size, real), `a ${size}-byte file in ${chunkSize}-byte chunks`)
          if (chunksAgreeWithSize(size, claimed))
            assert.ok(claimed <= size / 4096 + 1 && (claimed === 0) === (size === 0))
        },
      ),
    )
    assert.ok(chunksAgreeWithSize(2 ** 24 * 4096, 2 ** 24))
    assert.ok(!chunksAgreeWithSize(2 ** 24 * 4096 - 4096, 2 ** 24))
  })

  it('property: arbitrary bytes never throw anything but our typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
        try {
          decodeDatagram(bytes)
          return true
        } catch (err) {
          return hasCode(err, 'E_BAD_DATAGRAM') || hasCode(err, 'E_TOO_LARGE')
        }
      }),
      { numRuns: 2000 },
    )
  })

  const good = {
    v: 1,
    type: 'announce',
    peer: PEER,
    port: 47010,
    files: [{ id: id(1), name: 'a', size: 10, chunks: 1, have: 'all' }],
  }
  const bad: Array<[string, unknown, string]> = [
    ['not JSON', 'hello', 'not-json'],
    ['a wrong version', { ...good, v: 2 }, 'schema'],
    ['port 0', { ...good, port: 0 }, 'schema'],
    ['port 70000', { ...good, port: 70000 }, 'schema'],
    ['a "../" name', { ...good, files: [{ ...good.files[0], name: '../etc/passwd' }] }, 'schema'],
    ['a bad id', { ...good, files: [{ ...good.files[0], id: 'ABC' }] }, 'schema'],
    ['a string port', { ...good, port: '47010' }, 'schema'],
    ['files not a list', { ...good, files: {} }, 'schema'],
    [
      'a have longer than the file',
      {
        ...good,
        files: [{ ...good.files[0], size: 3 * 4096, chunks: 3, have: Buffer.from([0xff, 0xff]).toString('base64') }],
      },
      'have',
    ],
    [
      'bits set past the last chunk',
      {
        ...good,
        files: [{ ...good.files[0], size: 3 * 4096, chunks: 3, have: Buffer.from([0xff]).toString('base64') }],
      },
      'have',
    ],
    [
      'a "from" that is not a multiple of 8',
      { ...good, files: [{ ...good.files[0], size: 30 * 4096, chunks: 30, have: 'AA==', from: 3 }] },
      'schema',
    ],
    [
      'a "from" past the last chunk',
      { ...good, files: [{ ...good.files[0], size: 30 * 4096, chunks: 30, have: 'AA==', from: 32 }] },
      'have',
    ],
    [
      '2^24 chunks for 10 bytes (the chunk count must agree with the size)',
      { ...good, files: [{ ...good.files[0], chunks: 1 << 24 }] },
      'chunks',
    ],
    [
      'more chunks than 4 KiB chunks could make',
      { ...good, files: [{ ...good.files[0], size: 8193, chunks: 4 }] },
      'chunks',
    ],
    [
      'fewer chunks than 64 MiB chunks could make',
      { ...good, files: [{ ...good.files[0], size: 64 * 2 ** 20 + 1, chunks: 1 }] },
      'chunks',
    ],
    ['chunks for an empty file', { ...good, files: [{ ...good.files[0], size: 0, chunks: 1 }] }, 'chunks'],
    [
      'no chunks for a non-empty file',
      { ...good, files: [{ ...good.files[0], size: 1, chunks: 0, have: '' }] },
      'chunks',
    ],
    ['2^24 + 1 chunks', { ...good, files: [{ ...good.files[0], size: 2 ** 40, chunks: 2 ** 24 + 1 }] }, 'schema'],
    [
      'two entries for one id that disagree',
      { ...good, files: [good.files[0], { ...good.files[0], name: 'b' }] },
      'inconsistent',
    ],
    ['a query for an invalid name', { v: 1, type: 'query', name: '../x' }, 'schema'],
    ['a query for a bad id', { v: 1, type: 'query', id: 'x'.repeat(64) }, 'schema'],
    ['a "more" notice with a negative count', { v: 1, type: 'more', omitted: -1, interval: 5 }, 'schema'],
  ]
  for (const [what, value, reason] of bad) {
    it(`rejects ${what} (E_BAD_DATAGRAM, reason ${reason})`, () => {
      const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
      assert.throws(
        () => decodeDatagram(bytes),
        (err) => hasCode(err, 'E_BAD_DATAGRAM') && err.details?.reason === reason,
      )
    })
  }

  it('rejects a 60 KB datagram before parsing it (E_TOO_LARGE)', () => {
    assert.throws(
      () => decodeDatagram(Buffer.alloc(60_000, 0x20)),
      (err) => hasCode(err, 'E_TOO_LARGE'),
    )
  })

  it("decodeQuery (an announcer's reading): a query's want and cookie, undefined for any other message without validating it, the same errors for a bad query", () => {
    assert.deepEqual(decodeQuery(encodeQuery({ name: 'a.bin' })), { type: 'query', want: { name: 'a.bin' } })
    assert.deepEqual(decodeQuery(Buffer.from('{"v":1,"type":"query"}')), { type: 'query', want: {} })
    const cookie = 'c0ffee'.padEnd(32, '0')
    const nonce = '5eed'.padEnd(16, '0')
    const withCookie = encodeQuery({ id: id(3) }, 1200, { cookie, nonce })
    assert.equal(withCookie.length, 1200, 'padded as any query')
    assert.deepEqual(decodeQuery(withCookie), { type: 'query', want: { id: id(3) }, cookie, nonce })
    for (const bad of ['C0FFEE'.padEnd(32, '0'), 'c0ffee', 'c0ffee'.padEnd(33, '0'), 7])
      for (const field of ['cookie', 'nonce'])
        assert.throws(
          () => decodeQuery(Buffer.from(JSON.stringify({ v: 1, type: 'query', [field]: bad }))),
          (e) => hasCode(e, 'E_BAD_DATAGRAM'),
        )
    assert.deepEqual(decodeDatagram(encodeCookie(cookie, false)), { type: 'cookie', cookie, answered: false })
    assert.deepEqual(decodeDatagram(encodeCookie(cookie, true, nonce)), {
      type: 'cookie',
      cookie,
      answered: true,
      nonce,
    })
    for (const bad of [
      { cookie, answered: 'no' },
      { cookie: 'x', answered: true },
      { answered: true },
      { cookie, answered: true, nonce: 'x' },
    ])
      assert.throws(
        () => decodeDatagram(Buffer.from(JSON.stringify({ v: 1, type: 'cookie', ...bad }))),
        (e) => hasCode(e, 'E_BAD_DATAGRAM'),
      )
    const [announcement] = encodeAnnouncements(PEER, 7000, [file(1, 8, () => true)])
    assert.equal(decodeQuery(announcement!), undefined)
    // An announcement the listener would refuse is still not the announcer's business.
    assert.equal(decodeQuery(Buffer.from('{"v":1,"type":"announce","files":"nonsense"}')), undefined)
    assert.equal(decodeQuery(Buffer.from('[1,2]')), undefined)
    assert.throws(
      () => decodeQuery(Buffer.from('{"v":1,"type":"query","id":"ABC"}')),
      (e) => hasCode(e, 'E_BAD_DATAGRAM'),
    )
    // Bytes that cannot spell a query's type are not parsed at all; ones that may are, and a bad one is refused.
    assert.equal(decodeQuery(Buffer.from([0x7b, 0xff])), undefined)
    assert.throws(
      () => decodeQuery(Buffer.from([0x7b, 0xff, ...Buffer.from('query')])),
      (e) => hasCode(e, 'E_BAD_DATAGRAM'),
    )
    assert.deepEqual(decodeQuery(Buffer.from('{"v":1,"type":"qu\\u0065ry"}')), { type: 'query', want: {} })
    assert.throws(
      () => decodeQuery(Buffer.alloc(60_000, 0x20)),
      (e) => hasCode(e, 'E_TOO_LARGE'),
    )
  })

  it('property: decodeQuery agrees with decodeDatagram on every datagram decodeDatagram accepts', () => {
    const datagram = fc.oneof(
      fc.record({ name: fc.string({ maxLength: 40 }) }).map((want) => encodeQuery(want)),
      fc.constant(encodeQuery({ id: id(9) })),
      fc
        .string({ unit: fc.constantFrom(...'0123456789abcdefA'), minLength: 30, maxLength: 34 })
        .map((cookie) => encodeQuery({}, 1200, { cookie, nonce: cookie.slice(0, 16) })),
      fc.boolean().map((answered) => encodeCookie('ab'.repeat(16), answered, 'cd'.repeat(8))),
      fc.nat(60).map((n) => encodeAnnouncements(PEER, 7000, [file(n, n + 1, (i) => i % 2 === 0)])[0]!),
      fc.nat(1000).map((n) => encodeMore(n, 5)),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    )
    fc.assert(
      fc.property(datagram, (bytes) => {
        let message: ReturnType<typeof decodeDatagram>
        try {
          message = decodeDatagram(bytes)
        } catch {
          return true
        }
        assert.deepEqual(decodeQuery(bytes), message.type === 'query' ? message : undefined)
        return true
      }),
      { numRuns: 500 },
    )
  })
})
