import assert from 'node:assert/strict'
import { chmod, mkdir, readdir, readFile, stat, symlink, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hasCode } from '../../src/core/errors.js'
import { loadIdentity } from '../../src/core/trust/identity.js'
import { parsePeerId } from '../../src/core/trust/peer-id.js'
import { mkfifo, tmpDir } from '../helpers/files.js'

describe('identity file on disk', () => {
  it('is created once with mode 0600 and read back as the same identity', async (t) => {
    const path = join(await tmpDir(t), 'identity.key')
    const made = await loadIdentity(path)
    assert.ok(made.created)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const again = await loadIdentity(path)
    assert.ok(!again.created)
    assert.equal(again.peerId, made.peerId)
    assert.deepEqual(parsePeerId(made.peerId), made.publicKey)
    assert.match(await readFile(path, 'utf8'), new RegExp(`peer-id ${made.peerId}`))
  })

  it('is made only in a directory that is there (E_NOT_FOUND naming it, nothing made), but in a store, with its .p2p', async (t) => {
    // A UX audit: a mistyped directory in --identity was made without a word, with a new peer ID no one allows.
    const dir = await tmpDir(t)
    const path = join(dir, 'keyz', 'sub', 'identity.key')
    await assert.rejects(
      loadIdentity(path),
      (err) =>
        hasCode(err, 'E_NOT_FOUND') &&
        (err as Error).message.includes(`no directory ${join(dir, 'keyz', 'sub')} to make one in`) &&
        /mkdir -p/.test((err as Error).message),
    )
    assert.deepEqual(await readdir(dir), [], 'no directory made')
    await writeFile(join(dir, 'file'), 'x')
    await assert.rejects(loadIdentity(join(dir, 'file', 'identity.key')), (err) => hasCode(err, 'E_NOT_FOUND'))
    await mkdir(join(dir, 'keyz', 'sub'), { recursive: true })
    assert.ok((await loadIdentity(path)).created)
    const store = join(dir, 'chunks')
    const own = await loadIdentity(join(store, '.p2p', 'identity.key'), { within: store })
    assert.ok(own.created, "the store's own, with its directories")
  })

  it('commands starting together share one new identity (never two)', async (t) => {
    const path = join(await tmpDir(t), 'identity.key')
    const all = await Promise.all(Array.from({ length: 8 }, () => loadIdentity(path)))
    assert.equal(new Set(all.map((i) => i.peerId)).size, 1)
    assert.equal(all.filter((i) => i.created).length, 1)
  })

  it('refuses a file readable by others, truncated, a symlink or a FIFO with E_IDENTITY (without blocking)', async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, 'identity.key')
    await loadIdentity(path)
    await chmod(path, 0o644)
    await assert.rejects(
      loadIdentity(path),
      (err) => hasCode(err, 'E_IDENTITY') && /chmod 600/.test((err as Error).message),
    )
    await chmod(path, 0o600)
    await truncate(path, (await stat(path)).size - 20)
    await assert.rejects(
      loadIdentity(path),
      (err) => hasCode(err, 'E_IDENTITY') && /truncated or damaged|no valid/.test((err as Error).message),
    )
    await writeFile(join(dir, 'real.key'), 'x', { mode: 0o600 })
    await symlink(join(dir, 'real.key'), join(dir, 'link.key'))
    await assert.rejects(
      loadIdentity(join(dir, 'link.key')),
      (err) => hasCode(err, 'E_IDENTITY') && /symbolic link/.test((err as Error).message),
    )
    mkfifo(join(dir, 'fifo.key'))
    await assert.rejects(
      loadIdentity(join(dir, 'fifo.key')),
      (err) => hasCode(err, 'E_IDENTITY') && /FIFO/.test((err as Error).message),
    )
    await assert.rejects(loadIdentity(join(dir, 'absent.key'), { create: false }), (err) => hasCode(err, 'E_IDENTITY'))
  })
})
