import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { appendFile, link, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { sameContent } from '../../src/core/download/same-content.js'
import { tmpDir } from '../helpers/files.js'

/** sameContent on real files, each side of the size read in one synchronous call (same-content.ts). */
describe('sameContent', () => {
  for (const size of [0, 1000, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024]) {
    it(`${size} bytes: the same bytes only, a regular file not reached through a link, one link when asked`, async (t) => {
      const dir = await tmpDir(t)
      const bytes = randomBytes(size)
      const sha = createHash('sha256').update(bytes).digest('hex')
      const file = join(dir, 'f')
      await writeFile(file, bytes)
      assert.equal(await sameContent(file, size, sha, { ours: true, oneLink: true }), true)
      await symlink(file, join(dir, 'link'))
      assert.equal(await sameContent(join(dir, 'link'), size, sha), false, 'a symbolic link')
      await link(file, join(dir, 'second'))
      assert.equal(await sameContent(file, size, sha), true)
      assert.equal(await sameContent(file, size, sha, { oneLink: true }), false, 'two links')
      await appendFile(file, 'x')
      assert.equal(await sameContent(file, size, sha), false, 'grown by a byte')
      if (size > 0) {
        const changed = Buffer.from(bytes)
        changed[size - 1] = changed[size - 1]! ^ 1
        await writeFile(join(dir, 'g'), changed)
        assert.equal(await sameContent(join(dir, 'g'), size, sha), false, 'its last byte changed')
      }
      assert.equal(await sameContent(join(dir, 'absent'), size, sha), false)
      execFileSync('mkfifo', [join(dir, 'fifo')])
      assert.equal(await sameContent(join(dir, 'fifo'), size, sha), false, 'a FIFO, opened without waiting')
      const stop = new AbortController()
      stop.abort(new Error('stopped'))
      await assert.rejects(sameContent(join(dir, 'second'), size, sha, { signal: stop.signal }), /stopped/)
    })
  }
})
