import assert from 'node:assert/strict'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { silentLogger } from '../../src/core/log.js'
import { followAllowList } from '../../src/core/trust/allow-follow.js'
import { loadAllowList } from '../../src/core/trust/allow-list.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'

/** allow-follow.ts on real files, with a short interval: what is read again, when, and what is kept. */

const key = (): Buffer => NoiseSecretStream.keyPair().publicKey
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(what: () => boolean, label: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${label}`)
    await sleep(10)
  }
}

describe('an allow-list file followed (allow-follow.ts)', () => {
  it('an edit made after the first read and before following began is read (a long split came between: the review)', async (t) => {
    const dir = await tmpDir(t)
    const file = join(dir, 'allow.txt')
    const [a, b] = [key(), key()]
    await writeFile(file, `${formatPeerId(a)}\n`)
    const list = (await loadAllowList([], file))!
    await sleep(20) // a later mtime on filesystems of coarse times
    await writeFile(`${file}.new`, `${formatPeerId(b)}\n`)
    await rename(`${file}.new`, file)
    let changes = 0
    const stop = followAllowList(list, { log: silentLogger(), onChange: () => changes++, intervalMs: 50 })
    onCleanup(t, stop)
    await until(() => changes === 1, 'the list read again')
    assert.deepEqual([list.allows(a), list.allows(b)], [false, true])
  })

  it('stopped, it reads nothing more and swaps nothing: an edit after stop() leaves the list', async (t) => {
    const dir = await tmpDir(t)
    const file = join(dir, 'allow.txt')
    const [a, b] = [key(), key()]
    await writeFile(file, `${formatPeerId(a)}\n`)
    const list = (await loadAllowList([], file))!
    let changes = 0
    const stop = followAllowList(list, { log: silentLogger(), onChange: () => changes++, intervalMs: 50 })
    await sleep(120)
    await writeFile(file, `${formatPeerId(b)}\n`)
    stop()
    await sleep(400)
    assert.equal(changes, 0)
    assert.deepEqual([list.allows(a), list.allows(b)], [true, false])
  })
})
