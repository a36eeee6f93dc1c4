import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * p2pshare's version, from its package.json: the nearest one above this module named p2pshare (the bundle in
 * dist/cli/ and the library in dist/src/cli/ sit at different depths). '?' if none is found.
 */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === 'p2pshare' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // none here, or not ours: look further up
    }
    if (dirname(dir) === dir) return '?'
  }
}
