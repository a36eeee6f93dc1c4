import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { writeJsonLine } from '../../src/cli/format.js'

const written = (value: Record<string, unknown>, long: string, batch?: number): { line: string; pieces: number } => {
  const pieces: string[] = []
  writeJsonLine((piece) => pieces.push(piece), value, long, batch)
  return { line: pieces.join(''), pieces: pieces.length }
}

describe('one JSON line written in pieces (cli/format.ts writeJsonLine)', () => {
  it('gives exactly JSON.stringify and a newline, wherever the long array is and whatever is around it', () => {
    const entries = fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.oneof(fc.jsonValue(), fc.constant(undefined))), {
      maxLength: 6,
    })
    fc.assert(
      fc.property(
        entries,
        fc.array(fc.oneof(fc.jsonValue(), fc.constant(undefined)), { maxLength: 40 }),
        entries,
        fc.integer({ min: 1, max: 7 }),
        (before, items, after, batch) => {
          const value: Record<string, unknown> = {}
          for (const [k, v] of before) if (k !== 'files') value[k] = v
          value.files = items
          for (const [k, v] of after) if (k !== 'files') value[k] = v
          assert.equal(written(value, 'files', batch).line, `${JSON.stringify(value)}\n`)
        },
      ),
    )
  })

  it('writes a folder receipt of 10,000 files in batches, never as one string, and anything else whole', () => {
    const files = Array.from({ length: 10_000 }, (_, i) => ({ path: `d/f${i}`, size: i, sha256: 'ab'.repeat(32) }))
    const value = { ok: true, id: 'x', peers: [{ peer: '127.0.0.1:1' }], files, dirs: 3, refused: undefined }
    const { line, pieces } = written(value, 'files')
    assert.equal(line, `${JSON.stringify(value)}\n`)
    assert.ok(pieces >= 10_000 / 256, `${pieces} pieces`)
    assert.equal(written({ ok: true, files: undefined }, 'files').pieces, 1)
    assert.equal(written({ ok: true, files: undefined }, 'files').line, '{"ok":true}\n')
  })
})
