import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { TreeLayout } from '../../src/core/tree-layout.js'
import { EMPTY_SHA256, isDir, type TreeEntry, type TreeManifest } from '../../src/core/tree-manifest.js'
import { parentOf } from '../../src/core/tree-paths.js'
import { selectEntries } from '../../src/core/tree-select.js'
import { treeArb } from '../helpers/trees.js'

const H = (n: number): string => n.toString(16).padStart(64, '0')
let next = 1
const dir = (path: string): TreeEntry => ({ path, type: 'dir' })
const file = (path: string, size = 5000): TreeEntry => {
  const chunks = Array.from({ length: Math.ceil(size / 4096) }, () => H(next++))
  return { path, size, chunks, sha256: size === 0 ? EMPTY_SHA256 : chunks.length === 1 ? chunks[0]! : H(next++) }
}

const album: TreeManifest = {
  version: 2,
  name: 'album',
  chunkSize: 4096,
  entries: [
    file('.hidden'),
    file('README.md', 100),
    dir('docs'),
    file('docs/a.txt'),
    dir('docs/empty'),
    dir('docs/sub'),
    file('docs/sub/b.md'),
    dir('photos'),
    dir('photos/2024'),
    file('photos/2024/x.jpg', 9000),
    file('photos/y.jpg'),
    file('photos/y.png', 0),
    dir('z'),
  ],
}

const chosenPaths = (patterns: string[], m = album): string[] => {
  const s = selectEntries(m, patterns)
  return m.entries.filter((_, i) => s.chosen[i]).map((e) => (isDir(e) ? `${e.path}/` : e.path))
}

describe('--only selection', () => {
  it('chooses matching files and the directories that hold them, nothing else', () => {
    assert.deepEqual(chosenPaths(['photos/**/*.jpg']), ['photos/', 'photos/2024/', 'photos/2024/x.jpg', 'photos/y.jpg'])
    assert.deepEqual(chosenPaths(['**/*.md']), ['README.md', 'docs/', 'docs/sub/', 'docs/sub/b.md'])
    // As .gitignore and rsync: no "/" matches a name at any depth; a leading "/" or "./" anchors at the top.
    assert.deepEqual(chosenPaths(['*.md']), ['README.md', 'docs/', 'docs/sub/', 'docs/sub/b.md'])
    assert.deepEqual(chosenPaths(['/*.md']), ['README.md'])
    assert.deepEqual(chosenPaths(['./*.md']), ['README.md'])
    assert.deepEqual(chosenPaths(['sub']), ['docs/', 'docs/sub/', 'docs/sub/b.md'])
    assert.throws(() => chosenPaths(['/sub']), /matches nothing/)
    assert.deepEqual(chosenPaths(['.hidden']), ['.hidden'], 'dot files match like any other')
  })

  it('a chosen directory brings everything under it, empty directories too', () => {
    const all = ['docs/', 'docs/a.txt', 'docs/empty/', 'docs/sub/', 'docs/sub/b.md']
    assert.deepEqual(chosenPaths(['docs']), all)
    assert.deepEqual(chosenPaths(['./docs/']), all)
    assert.deepEqual(chosenPaths(['z']), ['z/'])
  })

  it('joins several patterns; takes a pattern in NFD as its NFC path', () => {
    assert.deepEqual(chosenPaths(['z', 'README.md']), ['README.md', 'z/'])
    const m: TreeManifest = { version: 2, name: 'n', chunkSize: 4096, entries: [file('\u00c9t\u00e9.txt')] }
    assert.deepEqual(chosenPaths(['E\u0301te\u0301.txt'], m), ['\u00c9t\u00e9.txt'])
  })

  it('asks only for the chunks of the chosen files', () => {
    const layout = new TreeLayout(album)
    const s = selectEntries(album, ['photos/2024/*'], layout)
    const x = layout.files.findIndex((f) => f.path === 'photos/2024/x.jpg')
    assert.deepEqual(s.chunks.indices(), [layout.firstChunk(x), layout.firstChunk(x) + 1, layout.firstChunk(x) + 2])
    assert.equal(s.files, 1)
    assert.equal(s.dirs, 2)
    assert.equal(s.bytes, 9000)
  })

  it('bounds what a pattern costs over a deep chain: more than two "**" refused, two done in bounded time (three took 45 s, deaf to Ctrl-C)', () => {
    const entries: TreeEntry[] = []
    for (let depth = 1, path = 'a'; depth <= 1000; depth++, path += `/${depth % 2 ? 'a' : 'b'}`) entries.push(dir(path))
    entries.push(file(`${entries.at(-1)!.path}/end.x`, 1))
    const chain: TreeManifest = { version: 2, name: 'chain', chunkSize: 4096, entries }
    assert.throws(
      () => selectEntries(chain, ['**/a/**/b/**/*.x']),
      (err) => hasCode(err, 'E_USAGE') && /more than 2 "\*\*"/.test(err.message),
    )
    for (const [costly, why] of [
      ['*-*-*.jpg', /in one path component/],
      ['!(b)!(c)!(d)!(e)!(f)x', /extglob/],
      [`${'@(a|aa)'.repeat(30)}x`, /extglob/],
      [`${'{a,aa}'.repeat(9)}x`, /brace groups/],
    ] as const)
      assert.throws(
        () => selectEntries(chain, [costly]),
        (err) => hasCode(err, 'E_USAGE') && why.test(err.message),
        costly,
      )
    assert.equal(selectEntries(chain, ['**/*n*.x']).files, 1, 'two in a component are fine')
    const started = performance.now()
    try {
      assert.equal(selectEntries(chain, ['**/a/**/*.x']).files, 1)
    } catch (err) {
      assert.ok(hasCode(err, 'E_USAGE'), String(err)) // over its time budget on a slow machine: said so
    }
    assert.ok(performance.now() - started < 10_000)
  })

  it('refuses a pattern that matches nothing, an empty or invalid one', () => {
    assert.throws(
      () => selectEntries(album, ['docs', 'nothing*']),
      (err) => hasCode(err, 'E_NOT_FOUND') && /"nothing\*"/.test(err.message),
    )
    assert.throws(
      () => selectEntries(album, ['']),
      (err) => hasCode(err, 'E_USAGE'),
    )
    assert.throws(
      () => selectEntries(album, ['./']),
      (err) => hasCode(err, 'E_USAGE'),
    )
    assert.throws(
      () => selectEntries(album, []),
      (err) => hasCode(err, 'E_USAGE'),
    )
    assert.throws(
      () => selectEntries(album, ['x'.repeat(5000)]),
      (err) => hasCode(err, 'E_USAGE'),
    )
  })

  it("is closed: every chosen entry's directory is chosen, a chosen directory's entries are chosen, chunks are exactly the chosen files'", () => {
    fc.assert(
      fc.property(
        treeArb.filter((m) => m.entries.length > 0),
        fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        (m, picks) => {
          const patterns = picks.map((p) => m.entries[p % m.entries.length]!.path.replace(/[*?[\]{}()!+@\\]/g, '?'))
          const layout = new TreeLayout(m)
          const s = selectEntries(m, patterns, layout)
          const byPath = new Map(m.entries.map((e, i) => [e.path, i]))
          m.entries.forEach((e, i) => {
            const parent = parentOf(e.path)
            if (s.chosen[i] && parent !== '')
              assert.ok(s.chosen[byPath.get(parent)!], `${e.path}: its directory is chosen`)
            if (parent !== '' && s.chosen[byPath.get(parent)!] && !s.chosen[i]) {
              // Only a directory chosen for what it holds leaves siblings out; one that matched brings them all.
              assert.ok(!patterns.some((p) => p === parent))
            }
          })
          let file = 0
          for (const [i, e] of m.entries.entries()) {
            if (isDir(e)) continue
            for (let j = 0; j < e.chunks.length; j++)
              assert.equal(s.chunks.get(layout.firstChunk(file) + j), s.chosen[i])
            file++
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})
