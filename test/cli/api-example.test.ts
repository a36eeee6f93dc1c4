import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/cli.js'

describe('docs/api.md and examples/api.mjs', () => {
  it('the example runs: shares a file and downloads it on loopback, identical to the source', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'examples', 'api.mjs')],
        { cwd: ROOT, timeout: 120_000 },
        (err, out, errOut) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout: out, stderr: errOut }),
      )
    })
    assert.equal(code, 0, stderr)
    assert.match(stdout, /^sharing hello\.bin \(3145745 bytes, 13 chunks\) as [0-9a-f]{64}$/m)
    assert.match(stdout, /^identical to the source: sha256 [0-9a-f]{64}$/m)
  })

  it('docs/api.md shows the example as it is', async () => {
    const doc = await readFile(join(ROOT, 'docs', 'api.md'), 'utf8')
    const example = await readFile(join(ROOT, 'examples', 'api.mjs'), 'utf8')
    const shown = /<!-- begin examples\/api\.mjs -->\n```js\n([\s\S]*?)```\n<!-- end examples\/api\.mjs -->/.exec(
      doc,
    )?.[1]
    assert.equal(shown, example)
  })

  it('docs/api.md names every export of the package', async () => {
    const doc = await readFile(join(ROOT, 'docs', 'api.md'), 'utf8')
    const api: Record<string, unknown> = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href)
    // Named in code (between backticks), not merely a word of the prose ("download").
    const code = [...doc.matchAll(/`[^`]*`/g)].map((m) => m[0])
    const named = new Set(code.flatMap((span) => [...span.matchAll(/[A-Za-z_$][\w$]*/g)].map((m) => m[0])))
    const missing = Object.keys(api).filter((name) => !named.has(name))
    assert.deepEqual(missing, [], `exported but not in docs/api.md: ${missing.join(', ')}`)
  })
})
