import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { isValidName } from '../../src/core/names.js'
import {
  chunkFileName,
  entryDirCandidates,
  groupByEntry,
  isChunkDataFile,
  isPreferredCopy,
} from '../../src/core/store-layout.js'

/** Files a scan may list that are no chunk of an entry: fewer than 6 digits, not digits, other suffixes, temp files. */
const notChunks = fc.constantFrom(
  '12345.chunk',
  '00000a.chunk',
  '.chunk',
  'x000001.chunk',
  '000001.chunk.tmp-1-ab',
  '000001.chunks',
  'manifest.json.tmp-7-cd',
  'data.have.tmp-2-ef',
  'notes.txt',
)
const dirName = fc.stringMatching(/^[a-z0-9.-]{1,8}$/).filter((d) => d !== '.' && d !== '..')
const entry = fc.record({
  dir: dirName,
  manifest: fc.boolean(),
  packed: fc.boolean(),
  chunks: fc.uniqueArray(fc.integer({ min: 0, max: 2_000_000 }), { maxLength: 6 }),
  other: fc.array(notChunks, { maxLength: 3 }),
})
const entries = fc.uniqueArray(entry, { selector: (e) => e.dir, maxLength: 6 })

describe('the chunk store layout (store-layout.ts)', () => {
  it('groups a listing by entry directory: its manifest, its chunk files by index, its data.have; nothing else', () => {
    fc.assert(
      fc.property(
        entries.chain((es) => {
          const paths = es.flatMap((e) =>
            [
              ...(e.manifest ? ['manifest.json'] : []),
              ...(e.packed ? ['data.have'] : []),
              ...e.chunks.map((i) => chunkFileName(i)),
              ...e.other,
            ].map((file) => ({ dirName: e.dir, file })),
          )
          return fc.tuple(fc.constant(es), fc.shuffledSubarray(paths, { minLength: paths.length }))
        }),
        ([es, paths]) => {
          const listing = groupByEntry(paths)
          const dirs = (has: (e: (typeof es)[number]) => boolean) => es.filter(has).map((e) => e.dir)
          const listed = (path: string) => paths.findIndex((p) => `${p.dirName}/${p.file}` === path)
          const byManifest = (a: string, b: string) => listed(`${a}/manifest.json`) - listed(`${b}/manifest.json`)
          assert.deepEqual(listing.manifestDirs, dirs((e) => e.manifest).sort(byManifest))
          assert.deepEqual([...listing.packedDirs].sort(), dirs((e) => e.packed).sort())
          assert.deepEqual([...listing.chunksByDir.keys()].sort(), dirs((e) => e.chunks.length > 0).sort())
          for (const e of es) {
            if (e.chunks.length === 0) continue
            // Every chunk file once, by its index, in the listing's order.
            const at = (i: number) => listed(`${e.dir}/${chunkFileName(i)}`)
            const expected = [...e.chunks].sort((a, b) => at(a) - at(b))
            assert.deepEqual(listing.chunksByDir.get(e.dir), expected)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('lets an entry take a directory of chunk files, packed data or temp files, and no other', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), notChunks, (index, other) => {
        assert.ok(isChunkDataFile(chunkFileName(index)))
        assert.ok(isChunkDataFile('data') && isChunkDataFile('data.have'))
        assert.equal(isChunkDataFile(other), other.includes('.tmp-'))
        assert.ok(!isChunkDataFile('manifest.json'))
      }),
    )
  })

  it('names an entry directory after the file when it can, then after its id, then <id>.2 … <id>.9', () => {
    const id = fc.stringMatching(/^[0-9a-f]{64}$/)
    const name = fc.oneof(fc.string({ minLength: 0, maxLength: 12 }), fc.constantFrom('a.bin', '../evil', '.p2p', ''))
    fc.assert(
      fc.property(name, id, (n, i) => {
        const byId = [i, `${i}.2`, `${i}.3`, `${i}.4`, `${i}.5`, `${i}.6`, `${i}.7`, `${i}.8`, `${i}.9`]
        assert.deepEqual(entryDirCandidates(n, i), isValidName(n) ? [n, ...byId] : byId)
      }),
    )
  })

  it('picks the same copy of an entry whatever order the directories are listed in: the one a download writes into', () => {
    const name = fc.stringMatching(/^[a-z]{1,6}$/)
    const id = fc.stringMatching(/^[0-9a-f]{8}$/)
    const setting = fc.tuple(name, id).chain(([n, i]) => {
      const candidates = entryDirCandidates(n, i)
      const dirs = fc.uniqueArray(fc.oneof(fc.constantFrom(...candidates), dirName), { minLength: 1, maxLength: 8 })
      return fc.tuple(
        fc.constant(n),
        fc.constant(i),
        dirs.chain((list) =>
          fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length })),
        ),
      )
    })
    fc.assert(
      fc.property(setting, ([n, i, [list, shuffled]]) => {
        const best = (dirs: readonly string[]) => dirs.reduce((kept, d) => (isPreferredCopy(d, kept, n, i) ? d : kept))
        const chosen = best(list)
        assert.equal(best(shuffled), chosen)
        // The first candidate present (dirNameFor's order), else the first name.
        const expected = entryDirCandidates(n, i).find((c) => list.includes(c)) ?? [...list].sort()[0]
        assert.equal(chosen, expected)
        for (const d of list) assert.ok(!(isPreferredCopy(d, chosen, n, i) && isPreferredCopy(chosen, d, n, i)))
      }),
    )
  })
})
