import assert from 'node:assert/strict'
import { stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { makeDirectories, makeDirectoriesSync } from '../../src/core/make-dirs.js'
import { tmpDir } from '../helpers/files.js'

describe('makeDirectories (mkdir -p, one level at a time)', () => {
  for (const [label, make] of [
    ['async', makeDirectories],
    ['sync', async (dir: string, mode?: number) => makeDirectoriesSync(dir, mode)],
  ] as const) {
    it(`${label}: makes what is missing, returns the first it made, and undefined when all was there`, async (t) => {
      const dir = await tmpDir(t)
      assert.equal(await make(join(dir, 'a', 'b', 'c'), 0o700), join(dir, 'a'))
      assert.ok((await stat(join(dir, 'a', 'b', 'c'))).isDirectory())
      assert.equal((await stat(join(dir, 'a', 'b'))).mode & 0o777, 0o700)
      assert.equal(await make(join(dir, 'a', 'b', 'c')), undefined)
      assert.equal(await make(dir), undefined)
    })

    it(`${label}: a file in the way is ENOTDIR, and a path under /proc fails at once (Node's own recursive mkdir spins there for ever)`, async (t) => {
      const dir = await tmpDir(t)
      await writeFile(join(dir, 'f'), 'x')
      await assert.rejects(make(join(dir, 'f')), { code: 'ENOTDIR' })
      await assert.rejects(make(join(dir, 'f', 'g')), { code: 'ENOTDIR' })
      const started = performance.now()
      await assert.rejects(make('/proc/p2p-test-x/y'), { code: 'ENOENT' })
      assert.ok(performance.now() - started < 1000)
    })

    it(`${label}: a symbolic link to nothing is said to be one (mkdir says only EEXIST)`, async (t) => {
      const dir = await tmpDir(t)
      await symlink(join(dir, 'gone'), join(dir, 'downloads'))
      await assert.rejects(make(join(dir, 'downloads')), {
        code: 'E_IO',
        message: `${join(dir, 'downloads')} is a symbolic link to nothing: remove it, or make what it points to`,
      })
    })
  }
})
