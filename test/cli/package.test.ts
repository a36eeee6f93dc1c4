import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT } from '../helpers/cli.js'

interface PackedFile {
  path: string
}

/** What `npm pack` would put in the tarball (scripts not run: dist/ is already built by `npm test`). */
function packList(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT }, (err, stdout) => {
      if (err) return reject(err)
      const [pack] = JSON.parse(stdout) as Array<{ files: PackedFile[] }>
      resolve(pack!.files.map((f) => f.path))
    })
  })
}

describe('the npm package', () => {
  it('holds only the built library (dist/src), the bundled commands (dist/cli), bin/, README, LICENSE and package.json', async () => {
    const files = await packList()
    const stray = files.filter(
      (f) =>
        !(
          /^dist\/src\/.+\.(js|d\.ts)$/.test(f) ||
          /^dist\/cli\/[\w-]+\.js$/.test(f) ||
          /^bin\/p2p(-[a-z]+)?$/.test(f) ||
          ['README.md', 'LICENSE', 'package.json'].includes(f)
        ),
    )
    assert.deepEqual(stray, [], 'nothing else is packed (no tests, sources, maps, benchmarks or stores)')
    for (const needed of [
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/core/hash-thread.js',
      'dist/cli/main.js',
      'dist/cli/young-generation.js',
      'dist/cli/hash-thread.js',
      'bin/p2p',
      'LICENSE',
    ]) {
      assert.ok(files.includes(needed), `${needed} is packed`)
    }
  })

  it('points main, types and exports at the built index, and says MIT in a LICENSE file', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      main: string
      types: string
      license: string
      exports: Record<string, { types: string; default: string }>
    }
    assert.equal(pkg.main, 'dist/src/index.js')
    assert.equal(pkg.types, 'dist/src/index.d.ts')
    assert.deepEqual(pkg.exports['.'], { types: './dist/src/index.d.ts', default: './dist/src/index.js' })
    assert.equal(pkg.license, 'MIT')
    assert.match(await readFile(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/)
    // The package imports itself by name, as a program depending on it would.
    const api = (await import('p2pshare')) as Record<string, unknown>
    for (const name of [
      'openStore',
      'splitFile',
      'createChunkServer',
      'createAnnouncer',
      'createListener',
      'createPeerDirectory',
      'download',
      'P2PError',
    ]) {
      assert.equal(typeof api[name], 'function', name)
    }
  })
})
