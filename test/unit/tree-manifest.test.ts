import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { manifestId } from '../../src/core/manifest.js'
import {
  EMPTY_SHA256,
  encodeTreeManifest,
  MAX_TREE_PATH_BYTES,
  parseTreeManifest,
  readTreeManifestAsJson,
  type TreeEntry,
  type TreeManifest,
  treeProblem,
} from '../../src/core/tree-manifest.js'
import { treeArb } from '../helpers/trees.js'

const H = (c: string): string => c.repeat(64)
const dir = (path: string): TreeEntry => ({ path, type: 'dir' })
const file = (
  path: string,
  size = 5,
  chunks = [H('a')],
  sha256 = chunks.length === 1 ? chunks[0]! : H('f'),
): TreeEntry => ({ path, size, chunks, sha256 })
const tree = (...entries: TreeEntry[]): TreeManifest => ({ version: 2, name: 'folder', chunkSize: 4096, entries })

function refused(bytes: Buffer | string, options = {}): string {
  try {
    parseTreeManifest(Buffer.from(bytes), options)
  } catch (err) {
    assert.ok(hasCode(err, 'E_BAD_MANIFEST') || hasCode(err, 'E_TOO_LARGE'), `unexpected ${String(err)}`)
    return (err as Error).message
  }
  assert.fail(`accepted: ${Buffer.from(bytes).toString().slice(0, 200)}`)
}

/** Bytes as a lying peer could send them: canonical-looking JSON, not built by our encoder (which would not let them through). */
function raw(entries: unknown[], extra = ''): string {
  return `{"version":2,"name":"folder","chunkSize":4096,"entries":${JSON.stringify(entries)}${extra}}`
}

describe('folder manifest (version 2)', () => {
  it('has the canonical form of the spec', () => {
    const m = tree(dir('d'), file('d/a.txt'), { path: 'run.sh', size: 0, chunks: [], sha256: EMPTY_SHA256, exec: true })
    assert.equal(
      encodeTreeManifest(m).toString(),
      '{"version":2,"name":"folder","chunkSize":4096,"entries":[' +
        `{"path":"d","type":"dir"},{"path":"d/a.txt","size":5,"chunks":["${H('a')}"],"sha256":"${H('a')}"},` +
        `{"path":"run.sh","size":0,"chunks":[],"sha256":"${EMPTY_SHA256}","exec":true}]}`,
    )
  })

  it('round-trips: parse(encode(m)) = m, and the bytes are canonical', () => {
    fc.assert(
      fc.property(treeArb, (m) => {
        assert.equal(treeProblem(m), undefined)
        const bytes = encodeTreeManifest(m)
        const parsed = parseTreeManifest(bytes, { expectedId: manifestId(bytes) })
        assert.deepEqual(parsed, m)
        assert.ok(encodeTreeManifest(parsed).equals(bytes))
      }),
      { numRuns: 300 },
    )
  })

  it('the canonical reader accepts exactly what the JSON reader accepts, with the same entries (bytes mutated at random)', () => {
    const outcome = (read: () => TreeManifest): TreeManifest | 'refused' => {
      try {
        return read()
      } catch (err) {
        assert.ok(hasCode(err, 'E_BAD_MANIFEST'), `unexpected ${String(err)}`)
        return 'refused'
      }
    }
    const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'drop', 'insert', 'dup'), byte: fc.nat(255) })
    fc.assert(
      fc.property(treeArb, fc.array(edit, { minLength: 0, maxLength: 3 }), (m, edits) => {
        const bytes = [...encodeTreeManifest(m)]
        for (const { at, op, byte } of edits) {
          const i = at % Math.max(1, bytes.length)
          if (op === 'flip') bytes[i] = byte
          else if (op === 'drop') bytes.splice(i, 1)
          else if (op === 'insert') bytes.splice(i, 0, byte)
          else bytes.splice(i, 0, ...bytes.slice(i, i + 1 + (byte % 80)))
        }
        const buffer = Buffer.from(bytes)
        const fast = outcome(() => parseTreeManifest(buffer))
        const slow = outcome(() => readTreeManifestAsJson(buffer))
        assert.deepEqual(fast, slow, buffer.toString().slice(0, 300))
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses any reordering of two entries, any duplicate and any missing parent', () => {
    fc.assert(
      fc.property(
        treeArb.filter((m) => m.entries.length >= 2),
        fc.nat(),
        fc.nat(),
        (m, a, b) => {
          const i = a % m.entries.length
          const j = b % m.entries.length
          fc.pre(i !== j)
          const swapped = [...m.entries]
          ;[swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!]
          refused(encodeTreeManifest({ ...m, entries: swapped }))
          const doubled = [...m.entries.slice(0, i + 1), m.entries[i]!, ...m.entries.slice(i + 1)]
          refused(encodeTreeManifest({ ...m, entries: doubled }))
          const parent = m.entries.findIndex(
            (e) => 'type' in e && m.entries.some((c) => c.path.startsWith(`${e.path}/`)),
          )
          if (parent >= 0) refused(encodeTreeManifest({ ...m, entries: m.entries.filter((_, k) => k !== parent) }))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('accepts an empty folder, a folder of only directories, empty files and exact chunk multiples', () => {
    for (const m of [
      tree(),
      tree(dir('a'), dir('a/b'), dir('a/b/c'), dir('z')),
      tree({ path: 'empty', size: 0, chunks: [], sha256: EMPTY_SHA256 }),
      tree(file('two', 8192, [H('a'), H('b')], H('c'))),
    ])
      assert.deepEqual(parseTreeManifest(encodeTreeManifest(m)), m)
  })

  const hostile: Array<[string, unknown[], RegExp]> = [
    ['../x', [file('../x')], /"\.\.": it must not be "\." or "\.\."/],
    ['/etc/x', [dir('/etc'), file('/etc/x')], /must be relative/],
    ['a/../../x', [dir('a'), file('a/../../x')], /"\.\."/],
    ['C:\\x', [file('C:\\x')], /must not contain .*"\\"/],
    ['a\\..\\x', [file('a\\..\\x')], /must not contain .*"\\"/],
    ['. component', [dir('a'), file('a/./x')], /"\.": it must not be/],
    ['empty component', [dir('a'), file('a//x')], /empty component/],
    ['trailing slash', [dir('a/')], /empty component/],
    ['NUL', [file('a\u0000b')], /control characters/],
    ['control character', [file('a\u001bb')], /control characters/],
    ['bidi control', [file('gnp\u202e.exe')], /bidirectional/],
    ['an NFD path', [file('E\u0301')], /NFC/],
    ['É in NFC and in NFD', [file('\u00c9'), file('E\u0301')], /NFC/],
    ['A and a', [file('A'), file('a')], /"a" and "A" would be one file/],
    ['a:b and a_b (one local name)', [file('a:b'), file('a_b')], /would be one file/],
    ['ß and ss', [file('ss'), file('ß')], /would be one file/],
    ['a file path that is also a directory path', [dir('a'), file('a')], /listed twice/],
    ['a path under a file', [file('f'), file('f/x')], /not under a directory/],
    ['a missing parent', [file('d/x')], /not under a directory/],
    ['a component over 255 bytes', [file('é'.repeat(128))], /at most 255 bytes/],
    [
      'a path over 4,096 bytes',
      (() => {
        const parts = Array.from({ length: 17 }, () => 'x'.repeat(250))
        return [...parts.slice(0, -1).map((_, k) => dir(parts.slice(0, k + 1).join('/'))), file(parts.join('/'))]
      })(),
      /at most 4096 bytes/,
    ],
    ['a chunk count that disagrees with the size', [file('x', 5000, [H('a')])], /not a list of 2 hashes/],
    ['a size over 2^53', [file('x', 2 ** 53, [H('a')])], /size is not an integer/],
    ['a negative size', [{ path: 'x', size: -1, chunks: [], sha256: EMPTY_SHA256 }], /size is not an integer/],
    ['a fractional size', [{ path: 'x', size: 1.5, chunks: [H('a')], sha256: H('a') }], /size is not an integer/],
    ['an empty file with another hash', [{ path: 'x', size: 0, chunks: [], sha256: H('b') }], /hash of nothing/],
    [
      "a one-chunk file whose hash is not its chunk's",
      [{ path: 'x', size: 5, chunks: [H('a')], sha256: H('b') }],
      /not its chunk's/,
    ],
    ['exec false', [{ path: 'x', size: 0, chunks: [], sha256: EMPTY_SHA256, exec: false }], /exec is true/],
    ['a directory with a size', [{ path: 'x', type: 'dir', size: 0 }], /a directory is exactly/],
    ['a type other than dir', [{ path: 'x', type: 'link' }], /a directory is exactly/],
    ['an extra key', [{ path: 'x', size: 0, chunks: [], sha256: EMPTY_SHA256, mode: 420 }], /a file is exactly/],
    ['an uppercase hash', [{ path: 'x', size: 5, chunks: [H('A')], sha256: H('A') }], /64 lowercase hex/],
    ['an entry that is not an object', [['x']], /not an object/],
    ['a path that is not a string', [{ path: 7, type: 'dir' }], /path is not a string/],
  ]
  for (const [label, entries, why] of hostile) {
    it(`refuses ${label}`, () => {
      assert.match(refused(raw(entries)), why)
    })
  }

  it("accepts a .p2p component inside a folder (only an item's own name may not start with it)", () => {
    const m = tree(file('.p2p'), file('.p2prc'))
    assert.deepEqual(parseTreeManifest(encodeTreeManifest(m)), m)
  })

  it('refuses non-canonical bytes of a valid folder', () => {
    const m = tree(dir('d'), file('d/a'))
    const bytes = encodeTreeManifest(m).toString()
    refused(`${bytes}\n`)
    refused(bytes.replace('"type":"dir"', '"type" : "dir"'))
    refused(bytes.replace('"d/a"', '"d\\/a"'))
    refused(bytes.replace('{"version":2,"name":"folder",', '{"name":"folder","version":2,'))
    refused(bytes.replace('{"path":"d","type":"dir"}', '{"type":"dir","path":"d"}'))
    refused(raw(m.entries as unknown[], ',"size":5'))
    refused(bytes.replace('"version":2', '"version":1'))
  })

  it('refuses more entries than the limit, and a million without building them', () => {
    const five = tree(dir('a'), dir('b'), dir('c'), dir('d'), dir('e'))
    assert.match(refused(encodeTreeManifest(five), { maxEntries: 4 }), /more than 4 entries/)
    assert.deepEqual(parseTreeManifest(encodeTreeManifest(five), { maxEntries: 5 }), five)
    const million = `{"version":2,"name":"folder","chunkSize":4096,"entries":[${Array.from({ length: 1_000_000 }, (_, i) => `{"path":"${i}","type":"dir"}`).join(',')}]}`
    // Refused by the count before JSON.parse (treeProblem's own count says "entry N: …").
    assert.match(refused(million), /^manifest lists more than 100000 entries/)
    // Values that are not entries count too: 32 MiB of zeros would be 16 million of them.
    const zeros = `{"version":2,"name":"folder","chunkSize":4096,"entries":[${'0,'.repeat(2_000_000)}0]}`
    assert.match(refused(zeros), /more values/)
  })

  it('refuses paths that add up to more than 8 MiB (memory grows with them), accepts just under', () => {
    const folder = (count: number) => ({
      version: 2 as const,
      name: 'wide',
      chunkSize: 16384,
      entries: Array.from({ length: count }, (_, i) => ({
        path: `${String(i).padStart(6, '0')}${'x'.repeat(244)}`,
        type: 'dir' as const,
      })),
    })
    const under = Math.floor(MAX_TREE_PATH_BYTES / 250)
    assert.equal(parseTreeManifest(encodeTreeManifest(folder(under))).entries.length, under)
    assert.throws(
      () => parseTreeManifest(encodeTreeManifest(folder(under + 1))),
      (err) => hasCode(err, 'E_BAD_MANIFEST') && /paths add up to more than 8388608 bytes/.test(err.message),
    )
  })

  it('refuses bytes that do not hash to the id, and bytes over the size limit', () => {
    const bytes = encodeTreeManifest(tree(dir('d')))
    assert.match(refused(bytes, { expectedId: H('0') }), /does not hash/)
    assert.throws(
      () => parseTreeManifest(bytes, { maxBytes: 10 }),
      (err) => hasCode(err, 'E_TOO_LARGE'),
    )
  })

  it('shows a hostile path escaped in its error', () => {
    assert.doesNotMatch(refused(raw([file('a\u001b[31m')])), /\u001b/)
    assert.doesNotMatch(refused(raw([file('b'), file('a\u202ex')])), /\u202e/)
  })
})
