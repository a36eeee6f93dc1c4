// Fuzz targets for folders (issue 18), joined to scripts/fuzz.mjs's list:
// the version-2 manifest parser (bytes, mutated valid manifests), the path
// rules (a whole-path check and the one-component-per-entry tree check must
// refuse the same paths) and the --only selection. Only P2PError may escape.

import { encodeTreeManifest, isDir, parseTreeManifest, treeProblem } from '../dist/src/core/tree-manifest.js'
import { pathProblem, TreeShape } from '../dist/src/core/tree-paths.js'
import { selectEntries } from '../dist/src/core/tree-select.js'
import { treeArb } from '../dist/test/helpers/trees.js'

export function folderTargets(fc, typed) {
  const flips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })
  return {
    'folder manifest parser: bytes': fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) =>
      typed(() => parseTreeManifest(bytes)),
    ),
    'folder manifest parser: mutated valid manifests': fc.property(treeArb, flips, (m, changes) => {
      const bytes = encodeTreeManifest(m)
      const mutated = Buffer.from(bytes)
      for (const [at, value] of changes) mutated[at % mutated.length] = value
      typed(() => {
        const back = parseTreeManifest(mutated)
        // Whatever is accepted is canonical and keeps every rule.
        if (!encodeTreeManifest(back).equals(mutated))
          throw new Error('accepted bytes that do not re-encode to themselves')
        if (treeProblem(back) !== undefined) throw new Error(`accepted a tree that breaks a rule: ${treeProblem(back)}`)
      })
    }),
    'folder paths: the per-entry check refuses what the whole-path check refuses': fc.property(
      fc.array(
        fc.oneof(
          fc.string({ maxLength: 8 }),
          fc.string({ unit: 'binary', maxLength: 8 }),
          fc.constantFrom('..', '.', '', 'a', 'A', 'É', 'E\u0301', 'a:b', 'a_b'),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      (raw) => {
        const parts = raw.map((part) => part.replaceAll('/', ''))
        const path = parts.join('/')
        const shape = new TreeShape(100)
        for (let depth = 1; depth < parts.length; depth++)
          if (shape.add(parts.slice(0, depth).join('/'), true) !== undefined) return
        const alone = pathProblem(path)
        const inTree = shape.add(path, false)
        if ((alone === undefined) !== (inTree === undefined))
          throw new Error(`${JSON.stringify(path)}: whole path ${alone}, in the tree ${inTree}`)
      },
    ),
    '--only selection: any patterns': fc.property(
      treeArb,
      fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 3 }),
      (m, patterns) => {
        typed(() => {
          const s = selectEntries(m, patterns)
          m.entries.forEach((e, i) => {
            if (s.chosen[i] && !isDir(e) && e.chunks.length > 0 && s.chunks.count() === 0)
              throw new Error('a chosen file without its chunks')
          })
        })
      },
    ),
  }
}
