import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { decodeDatagram, decodeDatagramBySchema } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements, type LocalFile } from '../../src/core/discovery/announcement-encode.js'
import { plainAnnouncement } from '../../src/core/discovery/announcement-plain.js'
import { hasCode } from '../../src/core/errors.js'

/**
 * The plain path (announcement-plain.ts) against the schema it stands in
 * for: on announcements as announcers write them, and on the same with one
 * field removed, replaced, added or pushed to a boundary, decodeDatagram
 * gives what the schema alone gives (the same message, or the same error).
 */

const PEER = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'

const localFile = fc
  .record({
    n: fc.nat(1000),
    chunks: fc.integer({ min: 1, max: 20_000 }),
    odd: fc.nat(7),
    name: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.constantFrom('a.bin', 'naïve café.txt', '..', ' ')),
    folder: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
  })
  .map(({ n, chunks, odd, name, folder }): LocalFile => {
    const have = new Bitfield(chunks)
    for (let i = 0; i < chunks; i++) if ((i + n) % (odd + 1) !== 0) have.set(i)
    return {
      id: n.toString(16).padStart(64, '0'),
      name,
      size: chunks * 65536,
      have,
      ...(folder ? { files: folder } : {}),
    }
  })

/** Values at and past each field's bounds, by field; and values of every JSON type for any field. */
const bounds: Record<string, unknown[]> = {
  v: [0, 1, 2, '1'],
  type: ['announce', 'query', 'more', 'Announce'],
  peer: ['a1b2c3d4', 'a1b2c3d', 'x'.repeat(64), 'x'.repeat(65), 'a1b2c3d4!', ''],
  transport: ['noise', 'x'.repeat(16), 'x'.repeat(17), ''],
  port: [-1, 0, 1, 1.5, 65535, 65536],
  files: [[], {}, 'x'],
  id: ['ab'.repeat(32), 'AB'.repeat(32), 'a'.repeat(63), 'a'.repeat(65)],
  name: ['a.bin', '', '..', '.p2p', 'a/b', '\u202e', ' ', 'x'.repeat(256)],
  size: [-1, 0, 1.5, 2 ** 53 - 1, 2 ** 53, 1e21],
  chunks: [-1, 0, 1, 2 ** 24, 2 ** 24 + 1, 0.5],
  have: ['all', '', 'AAAA', 'A'.repeat(1200), 'A'.repeat(1201), 'A===', '////'],
  from: [-8, -0, 0, 4, 8, 2 ** 53 - 1, 2 ** 53, 1e21, 8.5],
}
const anyValue = fc.constantFrom<unknown>(null, true, false, [], {}, [1], { a: 1 }, 'x', 7, -0)
const topFields = ['v', 'type', 'peer', 'transport', 'port', 'files', 'extra']
const fileFields = ['id', 'name', 'size', 'chunks', 'have', 'from', 'files', 'extra']

type Mutation =
  | { kind: 'none' }
  | { kind: 'top' | 'file'; field: string; value: unknown; remove: boolean }
  | { kind: 'proto'; inFile: boolean }
  | { kind: 'number'; field: string; text: string }

const change = (kind: 'top' | 'file', fields: string[]): fc.Arbitrary<Mutation> =>
  fc.constantFrom(...fields).chain((field) =>
    fc.record({
      kind: fc.constant(kind),
      field: fc.constant(field),
      value: fc.oneof(
        fc.constantFrom(...(bounds[field === 'files' && kind === 'file' ? 'chunks' : field] ?? [1])),
        anyValue,
      ),
      remove: fc.boolean(),
    }),
  )

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'none' }),
  change('top', topFields),
  change('file', fileFields),
  fc.record({ kind: fc.constant('proto' as const), inFile: fc.boolean() }),
  // Numbers JSON.stringify cannot write: -0, and ones JSON.parse makes Infinity.
  fc.record({
    kind: fc.constant('number' as const),
    field: fc.constantFrom('port', 'size', 'chunks', 'from', 'files'),
    text: fc.constantFrom('-0', '1e999', '-1e999', '1.0', '8e0', '0.5e1'),
  }),
)

function mutate(text: string, m: Mutation): string {
  if (m.kind === 'none') return text
  if (m.kind === 'number') {
    const present = new RegExp(`"${m.field}":-?[0-9.e+]+`)
    if (present.test(text)) return text.replace(present, `"${m.field}":${m.text}`)
    return text.replace('{"id":', `{"${m.field}":${m.text},"id":`)
  }
  if (m.kind === 'proto') {
    // A "__proto__" field: JSON.parse makes it an own field, which an object literal cannot.
    const at = m.inFile ? text.indexOf('{', 1) + 1 : 1
    return at <= 0 ? text : `${text.slice(0, at)}"__proto__":{"v":1},${text.slice(at)}`
  }
  const value = JSON.parse(text) as Record<string, unknown> & { files: Array<Record<string, unknown>> }
  const target = m.kind === 'top' ? value : value.files[0]
  if (target === undefined) return text
  if (m.remove) delete target[m.field]
  else target[m.field] = m.value
  return JSON.stringify(value)
}

/** What a decode gives: the message, or the error's code and reason. */
function outcome(decode: (bytes: Buffer) => unknown, bytes: Buffer): unknown {
  try {
    return { message: decode(bytes) }
  } catch (err) {
    assert.ok(hasCode(err), `not a P2PError: ${String(err)}`)
    return { code: err.code, reason: err.details?.reason, error: err.message }
  }
}

describe('announcement-plain: the schema-free check of a plain announcement', () => {
  it('property: decodeDatagram gives what the schema alone gives, on announcements and their mutations', () => {
    let plain = 0
    let runs = 0
    fc.assert(
      fc.property(
        fc.array(localFile, { minLength: 1, maxLength: 3 }),
        fc.constantFrom<'noise' | undefined>('noise', undefined),
        mutation,
        (files, transport, m) => {
          const [datagram] = encodeAnnouncements(PEER, 7000, files, undefined, transport)
          const bytes = Buffer.from(mutate(datagram!.toString('utf8'), m))
          runs++
          if (plainAnnouncement(JSON.parse(bytes.toString('utf8'))) !== undefined) plain++
          // Up to a UDP payload's largest, so that bounds within the datagram's own are reached too.
          assert.deepEqual(
            outcome((b) => decodeDatagram(b, 65_507), bytes),
            outcome((b) => decodeDatagramBySchema(b, 65_507), bytes),
          )
        },
      ),
      { numRuns: 3000 },
    )
    // The comparison means something only if the plain path took many of them.
    assert.ok(plain > runs / 4, `the plain path took ${plain} of ${runs}`)
  })

  it('takes what announcers write and leaves the rest to the schema', () => {
    const [datagram] = encodeAnnouncements(PEER, 7000, [
      { id: 'ab'.repeat(32), name: 'a.bin', size: 1 << 20, have: Bitfield.full(16) },
    ])
    const value = JSON.parse(datagram!.toString('utf8')) as Record<string, unknown>
    assert.ok(plainAnnouncement(value))
    assert.ok(plainAnnouncement({ ...value, extra: 1 }), 'a field nothing reads is left alone, as the schema does')
    assert.equal(plainAnnouncement({ ...value, port: 0 }), undefined)
    assert.equal(plainAnnouncement({ ...value, files: [{ id: 'ab'.repeat(32), name: '..' }] }), undefined)
    assert.equal(plainAnnouncement([value]), undefined)
    assert.equal(plainAnnouncement(null), undefined)
  })
})
