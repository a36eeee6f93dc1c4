// Announcements as an announcer encodes them: datagrams of at most 1200 bytes that a listener puts back
// together, queries and "more" notices, answers packed within 3 × the query, folders' "files".
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import {
  ANSWER_FACTOR,
  type Announcement,
  chunksAgreeWithSize,
  encodeMore,
  encodeQuery,
} from '../../src/core/discovery/announcement.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import {
  answerWithin,
  encodeAnnouncements,
  type LocalFile,
  packAnnouncements,
} from '../../src/core/discovery/announcement-encode.js'
import { ContentDictionary } from '../../src/core/discovery/dictionary.js'
import { claimsFromSnapshot, toSnapshot } from '../../src/core/discovery/dictionary-file.js'
import { hasCode } from '../../src/core/errors.js'
import { file, id, PEER } from '../helpers/announcements.js'

/** What a listener reconstructs from the datagrams. */
function reconstruct(datagrams: Buffer[]): ContentDictionary {
  const dictionary = new ContentDictionary({ maxFiles: 100_000 })
  for (const d of datagrams) dictionary.merge(decodeDatagram(d) as Announcement, '10.0.0.2', 1)
  return dictionary
}

describe('announcements', () => {
  it('round-trips a small store in one datagram, complete files as "all"', () => {
    const files = [file(1, 10, () => true), file(2, 10, (i) => i % 3 === 0, 'naïve café.txt')]
    const datagrams = encodeAnnouncements(PEER, 47010, files)
    assert.equal(datagrams.length, 1)
    const m = decodeDatagram(datagrams[0]!) as Announcement
    assert.equal(m.peer, PEER)
    assert.equal(m.port, 47010)
    assert.equal(m.files[0]!.have, 'all')
    assert.deepEqual((m.files[1]!.have as Bitfield).indices(), [0, 3, 6, 9])
    assert.match(datagrams[0]!.toString(), /"have":"all"/)
  })

  it('spreads 300 files over datagrams of at most 1200 bytes, each valid alone', () => {
    const files = Array.from({ length: 300 }, (_, n) => file(n, 5, (i) => i !== n % 5))
    const datagrams = encodeAnnouncements(PEER, 47010, files)
    assert.ok(datagrams.length > 1)
    for (const d of datagrams) assert.ok(d.length <= 1200, `${d.length} bytes`)
    const dictionary = reconstruct(datagrams)
    assert.equal(dictionary.fileCount, 300)
    for (const [n, f] of files.entries())
      assert.deepEqual(dictionary.file(id(n))!.peers[0]!.have.indices(), f.have.indices())
  })

  it('slices the bitfield of a 200,000-chunk file and the listener puts it back together', () => {
    const big = file(7, 200_000, (i) => i % 7 !== 0 && i !== 199_999)
    const datagrams = encodeAnnouncements(PEER, 47010, [big])
    assert.ok(datagrams.length > 20, `${datagrams.length} datagrams`)
    for (const d of datagrams) assert.ok(d.length <= 1200)
    const have = reconstruct(datagrams).file(id(7))!.peers[0]!.have
    assert.equal(have.length, 200_000)
    assert.deepEqual(Buffer.from(have.bytes), Buffer.from(big.have.bytes))
  })

  it('encodes a goodbye (no files) as one datagram with "files":[]', () => {
    const [bye, ...rest] = encodeAnnouncements(PEER, 1, [])
    assert.equal(rest.length, 0)
    assert.deepEqual((decodeDatagram(bye!) as Announcement).files, [])
    assert.deepEqual(decodeDatagram(encodeQuery()), { type: 'query', want: {} })
  })

  it('pads a query to 1200 bytes with spaces, for a name or an id; the old 22-byte form still decodes', () => {
    const plain = encodeQuery()
    assert.equal(plain.length, 1200)
    assert.equal(JSON.parse(plain.toString()).type, 'query', 'still one JSON object: older peers read a plain query')
    const named = encodeQuery({ name: 'naïve café.txt' })
    assert.equal(named.length, 1200)
    assert.deepEqual(decodeDatagram(named), { type: 'query', want: { name: 'naïve café.txt' } })
    assert.deepEqual(decodeDatagram(encodeQuery({ id: id(5) }, 0)), { type: 'query', want: { id: id(5) } })
    const old = Buffer.from('{"v":1,"type":"query"}')
    assert.equal(old.length, 22)
    assert.deepEqual(decodeDatagram(old), { type: 'query', want: {} })
  })

  it('a "more" notice fits in three times an old 22-byte query', () => {
    const more = encodeMore(10_000, 5)
    assert.ok(more.length <= 66, `${more.length} bytes`)
    assert.deepEqual(decodeDatagram(more), { type: 'more', omitted: 10_000, interval: 5 })
  })

  it("an answer's nonce is said back in every datagram, within their size; one of another form is ignored", () => {
    const files = Array.from({ length: 300 }, (_, n) => file(n, 5, () => true))
    const nonce = '0123456789abcdef'
    const packed = packAnnouncements(PEER, 1, files, { maxBytes: 1200, nonce })
    assert.ok(packed.datagrams.length > 1)
    for (const d of packed.datagrams) {
      assert.ok(d.length <= 1200)
      assert.equal((decodeDatagram(d) as Announcement).nonce, nonce)
    }
    const one = JSON.parse(packed.datagrams[0]!.toString())
    for (const other of ['0123', 'ABCDEF0123456789', 42, null]) {
      const decoded = decodeDatagram(Buffer.from(JSON.stringify({ ...one, nonce: other }))) as Announcement
      assert.equal(decoded.nonce, undefined)
      assert.equal(decoded.files.length, one.files.length, 'the announcement itself stands')
    }
    assert.equal(
      (decodeDatagram(packAnnouncements(PEER, 1, files.slice(0, 1)).datagrams[0]!) as Announcement).nonce,
      undefined,
    )
  })

  it('packs up to a number of datagrams and says how many files they hold whole', () => {
    const files = Array.from({ length: 300 }, (_, n) => file(n, 5, () => true))
    const all = packAnnouncements(PEER, 1, files)
    assert.equal(all.complete.at(-1), 300)
    const some = packAnnouncements(PEER, 1, files, { maxDatagrams: 2 })
    assert.deepEqual(some.datagrams, all.datagrams.slice(0, 2))
    assert.deepEqual(some.complete, all.complete.slice(0, 2))
    const announced = some.datagrams.flatMap((d) => (decodeDatagram(d) as Announcement).files.map((f) => f.id))
    assert.deepEqual(
      announced,
      files.slice(0, some.complete[1]).map((f) => f.id),
    )
    // A file sliced over several datagrams counts once its last slice is in.
    const big = packAnnouncements(PEER, 1, [file(1, 200_000, (i) => i % 2 === 0)], { maxDatagrams: 3 })
    assert.deepEqual(big.complete, [0, 0, 0])
  })

  it('property: an answer never exceeds 3 × the query (amplification), holds a prefix of the files whole, and says how many it left out', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ chunks: fc.integer({ min: 1, max: 40_000 }), part: fc.boolean(), long: fc.nat(150) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 1200 }),
        fc.boolean(),
        (specs, queryBytes, saysNonce) => {
          const files = specs.map((f, n) =>
            file(n, f.chunks, (i) => !f.part || i % 3 === 0, `${'x'.repeat(f.long)}${n}`),
          )
          const budget = ANSWER_FACTOR * queryBytes
          const packed = packAnnouncements(PEER, 1, files, {
            maxDatagrams: Math.ceil(budget / 400) + 1,
            ...(saysNonce ? { nonce: '0123456789abcdef' } : {}), // a unicast answer's
          })
          const { datagrams, bytes, whole } = answerWithin(packed, files.length, budget, (n) => encodeMore(n, 5))
          assert.equal(
            bytes,
            datagrams.reduce((sum, d) => sum + d.length, 0),
          )
          assert.ok(bytes <= budget, `${bytes} bytes for a ${queryBytes}-byte query`)
          if (datagrams.length === 0) return
          const decoded = datagrams.map((d) => decodeDatagram(d))
          const last = decoded.at(-1)!
          if (whole < files.length) assert.deepEqual(last, { type: 'more', omitted: files.length - whole, interval: 5 })
          const announced = decoded.flatMap((d) => (d.type === 'announce' ? d.files.map((f) => f.id) : []))
          assert.deepEqual(
            [...new Set(announced)].slice(0, whole),
            files.slice(0, whole).map((f) => f.id),
          )
          const whileFits = packed.datagrams.slice(0, datagrams.length - (whole < files.length ? 1 : 0))
          assert.deepEqual(
            datagrams.slice(0, whileFits.length),
            whileFits,
            'the packed datagrams, in order, from the first',
          )
        },
      ),
    )
  })

  it('property: any store encodes into datagrams ≤ 1200 bytes that reconstruct every have-set', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            chunks: fc.integer({ min: 0, max: 3000 }),
            seed: fc.integer(),
            name: fc.string({ minLength: 1, maxLength: 60 }),
          }),
          { maxLength: 20 },
        ),
        (specs) => {
          const files = specs.map((s, n) =>
            file(
              n,
              s.chunks,
              (i) => ((i * 2654435761 + s.seed) >>> 0) % 3 !== 0,
              `${n}-${s.name.replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, '_')}`.normalize('NFC'),
            ),
          )
          const datagrams = encodeAnnouncements(PEER, 9, files)
          if (datagrams.some((d) => d.length > 1200)) return false
          const dictionary = reconstruct(datagrams)
          return files.every((f, n) => {
            const got = dictionary.file(id(n))?.peers[0]?.have
            return got !== undefined && Buffer.compare(Buffer.from(got.bytes), Buffer.from(f.have.bytes)) === 0
          })
        },
      ),
      { numRuns: 100 },
    )
  })

  it('a folder carries "files":F through the announcement, the dictionary and its file; its chunks may exceed size / 4 KiB by one per file', () => {
    // 10,000 files of 100 bytes: 10,000 chunks for 1 MB, more than a file of 1 MB could have.
    const folder: LocalFile = { id: id(7), name: 'album', size: 1_000_000, have: Bitfield.full(10_000), files: 10_000 }
    assert.ok(!chunksAgreeWithSize(folder.size, 10_000), 'as a file: refused')
    assert.ok(chunksAgreeWithSize(folder.size, 10_000, 10_000))
    assert.ok(!chunksAgreeWithSize(folder.size, 10_000, 100), 'not with fewer files')
    const [datagram] = encodeAnnouncements(PEER, 5000, [folder, file(1, 3, () => true)])
    const decoded = decodeDatagram(datagram!) as Announcement
    assert.equal(decoded.files[0]!.files, 10_000)
    assert.equal(decoded.files[1]!.files, undefined, 'a file has no "files"')
    const dictionary = reconstruct([datagram!])
    const known = dictionary.files().find((f) => f.id === id(7))!
    assert.equal(known.files, 10_000)
    const clocks = { now: 1, wallNow: Date.now() }
    const again = claimsFromSnapshot(JSON.parse(JSON.stringify(toSnapshot(dictionary.files(), clocks))), (w) => w)
    assert.equal(again.find((f) => f.id === id(7))?.files, 10_000, 'kept in the dictionary file')
    const lying = Buffer.from(datagram!.toString().replace('"files":10000', '"files":1'))
    assert.throws(
      () => decodeDatagram(lying),
      (err: unknown) => hasCode(err, 'E_BAD_DATAGRAM'),
    )
  })
})
