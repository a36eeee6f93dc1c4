import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { encodeItemManifest, isTree, parseItemManifest, planOf } from '../../src/core/item.js'
import { chunkLength, encodeManifest, type Manifest } from '../../src/core/manifest.js'
import { encodeTreeManifest } from '../../src/core/tree-manifest.js'
import { treeArb } from '../helpers/trees.js'

const H = (c: string): string => c.repeat(64)
const file: Manifest = {
  version: 1,
  name: 'a.bin',
  size: 9000,
  chunkSize: 4096,
  chunks: [H('a'), H('b'), H('c')],
  sha256: H('d'),
}

describe('items: a file or a folder', () => {
  it('parses either version by its canonical prefix, and encodes it back', () => {
    const parsed = parseItemManifest(encodeManifest(file))
    assert.equal(isTree(parsed), false)
    assert.deepEqual(parsed, file)
    fc.assert(
      fc.property(treeArb, (m) => {
        const bytes = encodeTreeManifest(m)
        const back = parseItemManifest(bytes)
        assert.ok(isTree(back))
        assert.ok(encodeItemManifest(back).equals(bytes))
      }),
      { numRuns: 100 },
    )
  })

  it('refuses what is neither', () => {
    for (const bytes of [
      '{"version":2,',
      '{"version":3,"name":"x"}',
      '{ "version":2,"name":"x","chunkSize":4096,"entries":[]}',
      '',
      'null',
    ]) {
      assert.throws(
        () => parseItemManifest(Buffer.from(bytes)),
        (err) => hasCode(err, 'E_BAD_MANIFEST'),
        bytes,
      )
    }
    assert.throws(
      () => parseItemManifest(encodeManifest(file), { expectedId: H('0') }),
      (err) => hasCode(err, 'E_BAD_MANIFEST'),
    )
  })

  it('passes the entry limit to the folder parser', () => {
    const m = {
      version: 2 as const,
      name: 'f',
      chunkSize: 4096,
      entries: [
        { path: 'a', type: 'dir' as const },
        { path: 'b', type: 'dir' as const },
      ],
    }
    assert.throws(
      () => parseItemManifest(encodeTreeManifest(m), { maxEntries: 1 }),
      (err) => hasCode(err, 'E_BAD_MANIFEST'),
    )
  })

  it("gives one chunk plan for both: a file's is its chunks at i × chunkSize", () => {
    const plan = planOf(file)
    assert.equal(plan.chunkCount, 3)
    assert.equal(plan.size, 9000)
    for (let i = 0; i < 3; i++) {
      assert.equal(plan.chunkLength(i), chunkLength(file, i))
      assert.equal(plan.chunkHash(i), file.chunks[i])
    }
    assert.equal(planOf(file), plan, 'built once')
  })
})
