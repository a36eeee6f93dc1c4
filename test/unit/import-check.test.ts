import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

/** scripts/check-imports.mjs on a tree of the given sources (path → text). */
async function checkTree(t: Parameters<typeof tmpDir>[0], files: Record<string, string>) {
  const root = await tmpDir(t)
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), text)
  }
  return run([join(ROOT, 'scripts/check-imports.mjs'), '--root', root])
}

describe('import check (npm run lint)', () => {
  it('passes this repository', async () => {
    const r = await run([join(ROOT, 'scripts/check-imports.mjs')])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /no cycle/)
  })

  it('fails on a cycle, also through type-only and multi-line imports', async (t) => {
    const r = await checkTree(t, {
      'src/core/a.ts': "import { b } from './b.js'\nexport const a = b\n",
      'src/core/b.ts': "import type {\n  C,\n} from './c.js'\nexport const b: C = 1\n",
      'src/core/c.ts': "export { a as C } from './a.js'\n",
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /import cycle: src\/core\/a\.ts → src\/core\/b\.ts → src\/core\/c\.ts → src\/core\/a\.ts/)
  })

  it('fails on an import up a layer, across roles, and on terminal output in the core', async (t) => {
    const r = await checkTree(t, {
      'src/core/store.ts': "import { x } from './download/fetch.js'\nexport const s = x\n",
      'src/core/download/fetch.ts': 'export const x = 1\n',
      'src/core/transfer/client.ts':
        "import { y } from '../discovery/listener.js'\nimport chalk from 'chalk'\nexport const c = [y, chalk]\n",
      'src/core/discovery/listener.ts': 'export const y = 1\n',
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /src\/core\/store\.ts: imports src\/core\/download\/fetch\.ts, a layer above it/)
    assert.match(
      r.stderr,
      /src\/core\/transfer\/client\.ts: imports src\/core\/discovery\/listener\.ts: the role directories do not import each other/,
    )
    assert.match(r.stderr, /src\/core\/transfer\/client\.ts: imports chalk/)
  })

  it('lets only the command frame import the core among the commands', async (t) => {
    const r = await checkTree(t, {
      'src/core/errors.ts': 'export class E {}\n',
      'src/index.ts': "export { E } from './core/errors.js'\n",
      'src/cli/common.ts': "import { E } from '../core/errors.js'\nexport { E }\n",
      'src/cli/listen-dht.ts': "import { E } from '../core/errors.js'\nexport const x = E\n",
      'src/cli/again.ts': "export { E } from '../core/errors.js'\n",
      'src/cli/typed.ts': "import type { E } from '../core/errors.js'\nexport type T = E\n",
      'src/cli/later.ts': "export const m = () => import('../core/errors.js')\n",
      'src/cli/commented.ts':
        "import {\n  E, // the error, with a / in its comment\n} from '../core/errors.js'\nexport const c = E\n",
      'src/cli/after.ts': "/* first */ import { E } from '../core/errors.js'\nexport const d = E\n",
      'src/cli/required.ts':
        "import { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\nexport const e = require('../core/errors.js')\n",
      'src/cli/module.mts': "import { E } from '../core/errors.mjs'\nexport const f = E\n",
      'src/core/errors.mts': 'export class E {}\n',
      'src/cli/split.ts':
        "import { E } from '../index.js'\nimport { E as F } from './common.js'\nexport const y = [E, F]\n",
    })
    assert.equal(r.code, 1)
    for (const [module, target] of [
      ['listen-dht.ts', 'errors.ts'],
      ['again.ts', 'errors.ts'],
      ['typed.ts', 'errors.ts'],
      ['later.ts', 'errors.ts'],
      ['commented.ts', 'errors.ts'],
      ['after.ts', 'errors.ts'],
      ['required.ts', 'errors.ts'],
      ['module.mts', 'errors.mts'],
    ])
      assert.ok(
        r.stderr.includes(`src/cli/${module}: imports src/core/${target}; a command imports the library`),
        `${module}: ${r.stderr}`,
      )
    assert.doesNotMatch(r.stderr, /^imports: src\/cli\/(common|split)\.ts/m)
  })

  it('does not take code that only mentions a module for an import', async (t) => {
    const r = await checkTree(t, {
      'src/core/a.ts':
        "export const text = 'see b'\nexport const note = `import x from './b.js'`\n// export { b } from './b.js'\n",
      'src/core/b.ts': "import { text } from './a.js'\nexport const b = text\n",
    })
    assert.equal(r.code, 0, r.stderr)
  })
})
