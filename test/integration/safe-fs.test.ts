import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile, symlink, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { replaceSmallFile } from '../../src/core/disk.js'
import { hasCode } from '../../src/core/errors.js'
import { identityOf } from '../../src/core/file-identity.js'
import {
  assertSameDirectory,
  isAbsent,
  readRegularFile,
  realDirectories,
  realDirectoriesSync,
} from '../../src/core/safe-fs.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore, chunkFileName } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { onCleanup } from '../helpers/cleanup.js'
import { mkfifo, randomFile, tmpDir } from '../helpers/files.js'

describe('safe-fs: private files and directories (FAULTS.md case 43)', () => {
  it('reads a regular file within its bound; refuses a FIFO, a device, a directory and a symlink without blocking', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'plain'), 'hello')
    assert.equal((await readRegularFile(join(dir, 'plain'), { maxBytes: 5 })).toString(), 'hello')
    await assert.rejects(readRegularFile(join(dir, 'plain'), { maxBytes: 4 }), (err) => hasCode(err, 'E_TOO_LARGE'))
    await assert.rejects(readRegularFile(join(dir, 'absent'), { maxBytes: 4 }), (err) => isAbsent(err))

    mkfifo(join(dir, 'fifo'))
    const started = performance.now()
    await assert.rejects(
      readRegularFile(join(dir, 'fifo'), { maxBytes: 100 }),
      (err) => hasCode(err, 'E_IO') && /FIFO/.test((err as Error).message),
    )
    await assert.rejects(
      readRegularFile('/dev/zero', { maxBytes: 100, followSymlinks: true }),
      (err) => hasCode(err, 'E_IO') && /device/.test((err as Error).message),
    )
    await assert.rejects(
      readRegularFile(dir, { maxBytes: 100 }),
      (err) => hasCode(err, 'E_IO') && /directory/.test((err as Error).message),
    )
    assert.ok(performance.now() - started < 5000, 'none of them blocked')

    await symlink(join(dir, 'plain'), join(dir, 'link'))
    await assert.rejects(
      readRegularFile(join(dir, 'link'), { maxBytes: 100 }),
      (err) => hasCode(err, 'E_IO') && /symbolic link/.test((err as Error).message),
    )
    assert.equal(
      (await readRegularFile(join(dir, 'link'), { maxBytes: 100, followSymlinks: true })).toString(),
      'hello',
      'a path the user chose may be a link',
    )
    await symlink(join(dir, 'fifo'), join(dir, 'link-to-fifo'))
    await assert.rejects(readRegularFile(join(dir, 'link-to-fifo'), { maxBytes: 100, followSymlinks: true }), (err) =>
      hasCode(err, 'E_IO'),
    )
  })

  it('realDirectories creates and checks every level below the root, refusing a link or a file on the way', async (t) => {
    const base = await tmpDir(t)
    const root = join(base, 'root')
    const outside = join(base, 'outside')
    await mkdir(outside)
    const made = await realDirectories(root, join(root, 'a', 'b'), true)
    assert.deepEqual(made, identityOf(await lstat(join(root, 'a', 'b'), { bigint: true })), "the directory's identity")
    await assertSameDirectory(join(root, 'a', 'b'), made)
    await symlink(outside, join(root, 'link'))
    await assert.rejects(
      realDirectories(root, join(root, 'link', 'x'), true),
      (err) => hasCode(err, 'E_IO') && /symbolic link/.test((err as Error).message),
    )
    await writeFile(join(root, 'file'), '')
    await assert.rejects(realDirectories(root, join(root, 'file'), false), (err) => hasCode(err, 'E_IO'))
    assert.deepEqual(await readdir(outside), [], 'nothing was created through the link')
    await realDirectories(root, join(root, '...'), true) // a valid name, not a way up
    await realDirectories(root, join(root, '..x', 'y'), true)
    await assert.rejects(realDirectories(root, join(root, '..', 'outside')), (err) => hasCode(err, 'E_INTERNAL'))
    // A root that is itself a link is the user's choice.
    await symlink(root, join(base, 'root-link'))
    await realDirectories(join(base, 'root-link'), join(base, 'root-link', 'a'))
  })

  it('replaceSmallFile replaces a file in place, never through a linked directory, and leaves no temporary file behind', async (t) => {
    const base = await tmpDir(t)
    const root = join(base, 'root')
    const outside = join(base, 'outside')
    await mkdir(join(root, 'entry'), { recursive: true })
    await mkdir(outside)
    await replaceSmallFile(join(root, 'entry', 'data.have'), Buffer.from([1, 2]), { within: root })
    await replaceSmallFile(join(root, 'entry', 'data.have'), Buffer.from([3]), { within: root })
    assert.deepEqual([...(await readFile(join(root, 'entry', 'data.have')))], [3])
    assert.deepEqual(await readdir(join(root, 'entry')), ['data.have'])
    await symlink(outside, join(root, 'link'))
    await assert.rejects(
      () => replaceSmallFile(join(root, 'link', 'data.have'), Buffer.from([4]), { within: root }),
      (err) => hasCode(err, 'E_IO') && /symbolic link/.test((err as Error).message),
    )
    assert.deepEqual(await readdir(outside), [], 'nothing left through the link, not even the temporary file')
    assert.throws(
      () => realDirectoriesSync(root, join(root, '..', 'outside')),
      (err) => hasCode(err, 'E_INTERNAL'),
    )
    realDirectoriesSync(root, root)
  })

  it('replaceSmallFile: a reader while the rename is on the pool sees each version whole, never a missing or partial file', async (t) => {
    // The rename runs on libuv's pool while this thread reads: a real race, 255 versions of 4 KiB.
    const root = await tmpDir(t)
    const path = join(root, 'entry', 'data.have')
    await mkdir(join(root, 'entry'))
    const version = (v: number): Buffer => Buffer.alloc(4096, v)
    await replaceSmallFile(path, version(0), { within: root })
    let writing = true
    let renaming = false
    let readsWhileRenaming = 0
    const reader = (async () => {
      while (writing) {
        const bytes = readFileSync(path) // throws if the name is ever missing
        assert.equal(bytes.length, 4096, 'whole')
        assert.ok(
          bytes.every((b) => b === bytes[0]),
          'one version, not two mixed',
        )
        if (renaming) readsWhileRenaming++
        await new Promise<void>((turned) => setImmediate(turned))
      }
    })()
    for (let v = 1; v < 256; v++) {
      const replaced = replaceSmallFile(path, version(v), { within: root })
      renaming = true // the temp file is written by now; the rename is on the pool
      await replaced
      renaming = false
    }
    writing = false
    await reader
    assert.ok(readsWhileRenaming > 0, 'the reader ran while renames were under way')
    assert.equal(readFileSync(path)[0], 255, 'the last version')
    assert.deepEqual(await readdir(join(root, 'entry')), ['data.have'], 'no temporary file left')
  })

  it('replaceSmallFile: a rename that fails rejects and leaves no temporary file', async (t) => {
    const root = await tmpDir(t)
    await mkdir(join(root, 'entry', 'data.have'), { recursive: true })
    await writeFile(join(root, 'entry', 'data.have', 'inside'), 'x') // a directory in the file's place
    await assert.rejects(replaceSmallFile(join(root, 'entry', 'data.have'), Buffer.from([1]), { within: root }))
    assert.deepEqual(await readdir(join(root, 'entry')), ['data.have'])
  })

  it('a chunk file replaced by a FIFO: the server answers E_NOT_FOUND for it and keeps serving (its event loop never blocks)', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'f.bin'), 3 * 4096)
    const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize: 4096 })
    const server = new ChunkServer({ store, host: '127.0.0.1', port: 0 })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(100))
    await unlink(join(split.dir, chunkFileName(1)))
    mkfifo(join(split.dir, chunkFileName(1)))
    const client = await PeerClient.connect({ host: '127.0.0.1', port, requestTimeoutMs: 5000 })
    onCleanup(t, () => client.close())
    await assert.rejects(client.fetchChunk(split.id, 1), (err) => hasCode(err, 'E_NOT_FOUND'))
    assert.equal((await client.fetchChunk(split.id, 2)).length, 4096)
  })
})
