import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/cli.js'

/**
 * The benchmarks and scripts load the build by name (`const { x } = await
 * import('../dist/…')` once --help is answered, or statically), and most of
 * them run nowhere in the suite: a name renamed in src left `npm run bench`
 * failing at its first pull (hashThreads, moved to hash-pool.ts) while every
 * test passed. This reads each script's imports of the build and checks every
 * name it takes is exported there.
 */

const IMPORT = /(?:const|import)\s*\{([^}]*)\}\s*(?:=\s*await\s+import\(\s*|from\s+)'((?:\.\.\/)+dist\/[^']+)'/g
/** Every mention of the build: each must be one of the imports above, or the check would pass over it. */
const MENTION = /'(?:\.\.\/)+dist\/[^']+'/g

function scripts(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? scripts(join(dir, e.name)) : e.name.endsWith('.mjs') ? [join(dir, e.name)] : [],
  )
}

function importsOf(script: string): Array<{ names: string[]; path: string }> {
  const text = readFileSync(script, 'utf8')
  const imports = [...text.matchAll(IMPORT)]
  const mentions = text.match(MENTION)?.length ?? 0
  assert.equal(imports.length, mentions, `${relative(ROOT, script)}: a mention of the build this check cannot read`)
  return imports.map(([, names, path]) => ({
    names: names!
      .split(',')
      .map((n) => n.trim().split(/\s+as\s+|\s*:\s*/)[0]!)
      .filter(Boolean),
    path: join(dirname(script), path!),
  }))
}

describe('the benchmarks and scripts against the build', () => {
  const all = [...scripts(join(ROOT, 'bench')), ...scripts(join(ROOT, 'scripts'))].map((s) => ({
    script: s,
    imports: importsOf(s),
  }))

  it('finds the imports it checks (the pattern still matches the scripts)', () => {
    const names = all.flatMap((s) => s.imports.flatMap((i) => i.names))
    for (const expected of [
      'PeerClient',
      'ChunkStore',
      'SecureSocket',
      'RecordSealer',
      'Topology',
      'twoSites',
      'parseShareLink',
    ])
      assert.ok(names.includes(expected), `no script imports ${expected}`)
  })

  for (const { script, imports } of all.filter((s) => s.imports.length > 0)) {
    it(`${relative(ROOT, script)}: every name it takes from the build is exported there`, async () => {
      for (const { names, path } of imports) {
        const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>
        for (const name of names) assert.notEqual(module[name], undefined, `${relative(ROOT, path)} exports no ${name}`)
      }
    })
  }
})
