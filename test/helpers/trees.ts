import fc from 'fast-check'
import { chunkCount } from '../../src/core/manifest.js'
import { EMPTY_SHA256, type TreeEntry, type TreeManifest } from '../../src/core/tree-manifest.js'
import { baseOf, collisionKey, compareUtf8, parentOf } from '../../src/core/tree-paths.js'

/** Components that exercise the rules: non-ASCII, spaces, emoji, dot files, unportable and case-different names. */
export const COMPONENTS = [
  'a',
  'b',
  'A',
  'docs',
  'photos',
  'sample file é.txt',
  'É',
  '🎉',
  'x.tar.gz',
  '.hidden',
  '.p2prc',
  'a:b',
  'a_b',
  'CON',
  'ä',
  'z',
  'ß',
  'ss',
  '日本語',
  'run.sh',
  '\u{10000}',
  '\ue000',
  'name. ',
]

const hex = fc.stringMatching(/^[0-9a-f]{64}$/)

export interface TreeSpec {
  chunkSize: number
  paths: Array<{ parts: string[]; dir: boolean; size: number; exec: boolean }>
}

export const treeSpecArb: fc.Arbitrary<TreeSpec> = fc.record({
  chunkSize: fc.constantFrom(4096, 8192),
  paths: fc.array(
    fc.record({
      parts: fc.array(fc.constantFrom(...COMPONENTS), { minLength: 1, maxLength: 4 }),
      dir: fc.boolean(),
      size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 4097, max: 5 * 8192 })),
      exec: fc.boolean(),
    }),
    { maxLength: 25 },
  ),
})

/**
 * A valid folder manifest from a spec: parents made explicit, entries that
 * would collide (or sit under a file) dropped, sorted by UTF-8 bytes, hashes
 * that agree where the rules say they must.
 */
export function treeFromSpec(spec: TreeSpec, hashes: fc.Arbitrary<string> = hex): fc.Arbitrary<TreeManifest> {
  const wanted = new Map<string, { dir: boolean; size: number; exec: boolean }>()
  for (const p of spec.paths) {
    for (let depth = 1; depth < p.parts.length; depth++) {
      const dir = p.parts.slice(0, depth).join('/')
      if (!wanted.has(dir)) wanted.set(dir, { dir: true, size: 0, exec: false })
    }
    const path = p.parts.join('/')
    if (!wanted.has(path)) wanted.set(path, { dir: p.dir, size: p.size, exec: p.exec })
  }
  const sorted = [...wanted.keys()].sort(compareUtf8)
  const dirs = new Set([''])
  const keys = new Set<string>()
  const kept: Array<{ path: string; dir: boolean; size: number; exec: boolean }> = []
  for (const path of sorted) {
    const info = wanted.get(path)!
    const key = `${parentOf(path)}/${collisionKey(baseOf(path))}`
    if (!dirs.has(parentOf(path)) || keys.has(key)) continue
    keys.add(key)
    if (info.dir) dirs.add(path)
    kept.push({ path, ...info })
  }
  const perFile = kept.map((e) =>
    e.dir
      ? fc.constant<TreeEntry>({ path: e.path, type: 'dir' })
      : fc
          .tuple(
            fc.array(hashes, {
              minLength: chunkCount(e.size, spec.chunkSize),
              maxLength: chunkCount(e.size, spec.chunkSize),
            }),
            hashes,
          )
          .map(
            ([chunks, whole]): TreeEntry => ({
              path: e.path,
              size: e.size,
              chunks,
              sha256: e.size === 0 ? EMPTY_SHA256 : chunks.length === 1 ? chunks[0]! : whole,
              ...(e.exec ? { exec: true as const } : {}),
            }),
          ),
  )
  return fc
    .tuple(...perFile)
    .map((entries): TreeManifest => ({ version: 2, name: 'folder', chunkSize: spec.chunkSize, entries }))
}

export const treeArb: fc.Arbitrary<TreeManifest> = treeSpecArb.chain((spec) => treeFromSpec(spec))
