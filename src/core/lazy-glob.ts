import { createRequire } from 'node:module'
import type FastGlob from 'fast-glob'

const requireLazily = createRequire(import.meta.url)
let fastGlob: typeof FastGlob | undefined

/** fast-glob, loaded at the first listing: a download seldom lists its store (with picomatch's, tree-select.ts, ~11 ms of every start). */
export function glob(patterns: string | string[], options: FastGlob.Options): Promise<string[]> {
  fastGlob ??= requireLazily('fast-glob') as typeof FastGlob
  return fastGlob(patterns, options)
}
