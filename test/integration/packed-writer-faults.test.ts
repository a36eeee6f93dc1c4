import assert from 'node:assert/strict'
import { existsSync, readlinkSync } from 'node:fs'
import { type FileHandle, mkdir, open, readdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { PackedWriter } from '../../src/core/download/packed-writer.js'
import { hasCode } from '../../src/core/errors.js'
import type { Manifest } from '../../src/core/manifest.js'
import { readPackedHave } from '../../src/core/packed.js'
import { downloadsDir, put, sample } from '../helpers/packed-writer.js'

/**
 * A disk that fails under a download. The kernel's failures cannot be had on
 * demand here (a dm-error device would need one of its own), so the calls that
 * report them are made to fail as the kernel fails them, with an errno, for
 * one test file's process: FileHandle's sync and datasync, or the writer's
 * read back.
 */

type SyncName = 'sync' | 'datasync'

async function handlePrototype(): Promise<Record<SyncName, (this: FileHandle) => Promise<void>>> {
  const handle = await open(process.execPath, 'r')
  await handle.close()
  return Object.getPrototypeOf(handle)
}

/** `name` on every FileHandle replaced by `replacement` until the returned restore is called. */
async function replaced(name: SyncName, replacement: (this: FileHandle) => Promise<void>): Promise<() => void> {
  const proto = await handlePrototype()
  const original = proto[name]
  proto[name] = function (this: FileHandle) {
    return replacement.call(this).then(() => original.call(this))
  }
  return () => {
    proto[name] = original
  }
}

const ioError = (): Error => Object.assign(new Error('EIO: i/o error (simulated)'), { code: 'EIO' })

async function writerWithChunks(t: Parameters<typeof downloadsDir>[0], manifest: Manifest, data: Buffer) {
  const dir = await downloadsDir(t)
  const entryDir = join(dir, '..', 'entry')
  await mkdir(entryDir)
  const writer = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
  const { chunkSize } = manifest
  const putAll = async () => {
    for (let i = 0; i < manifest.chunks.length; i++)
      await put(writer, i, data.subarray(i * chunkSize, (i + 1) * chunkSize))
  }
  return { dir, entryDir, writer, putAll }
}

describe('packed writer on a failing disk', () => {
  it('a final fsync that fails: E_IO, no final name, and data.have withdrawn (a re-run fetches everything again)', async (t) => {
    const { data, manifest } = sample(3 * 4096 + 100, 4096)
    const { dir, entryDir, writer, putAll } = await writerWithChunks(t, manifest, data)
    await putAll()
    const restore = await replaced('sync', () => Promise.reject(ioError()))
    try {
      await assert.rejects(writer.finish(), (err) => hasCode(err, 'E_IO'))
    } finally {
      restore()
    }
    await writer.close()
    assert.equal(await readPackedHave(entryDir, manifest.chunks.length), undefined, 'data.have still lists chunks')
    assert.deepEqual(await readdir(dir), [])
  })

  it('a writeback (fdatasync) that fails while chunks arrive: the writer reports E_IO and withdraws data.have', async (t) => {
    // 65 chunks of 1 MiB: past the 64 MiB after which the writer syncs what it wrote (writeback.ts).
    const { data, manifest } = sample(65 * 1024 * 1024, 1024 * 1024)
    const { entryDir, writer, putAll } = await writerWithChunks(t, manifest, data)
    const restore = await replaced('datasync', () => Promise.reject(ioError()))
    try {
      await putAll()
      const deadline = Date.now() + 10_000
      while (writer.failure === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    } finally {
      restore()
    }
    assert.ok(hasCode(writer.failure, 'E_IO'), `failure: ${String(writer.failure)}`)
    await writer.close()
    assert.equal(await readPackedHave(entryDir, manifest.chunks.length), undefined, 'data.have still lists chunks')
  })

  it('a read back for the whole-file hash that fails: the writer reports E_IO at once, and finish refuses with it', async (t) => {
    const { data, manifest } = sample(3 * 4096, 4096)
    const { dir, writer } = await writerWithChunks(t, manifest, data)
    writer.readAt = () => {
      throw ioError()
    }
    const chunk = (i: number) => data.subarray(i * 4096, (i + 1) * 4096)
    await put(writer, 1, chunk(1)) // ahead of its turn: read back once chunk 0 is in
    await put(writer, 0, chunk(0))
    await new Promise((r) => setImmediate(r))
    assert.ok(hasCode(writer.failure, 'E_IO'), `failure: ${String(writer.failure)}`)
    await put(writer, 2, chunk(2))
    await assert.rejects(writer.finish(), (err) => hasCode(err, 'E_IO'))
    await writer.close()
    assert.deepEqual(await readdir(dir), [])
  })

  it('a write-back that fails only once closing has begun still withdraws data.have before close ends', async (t) => {
    const { data, manifest } = sample(65 * 1024 * 1024, 1024 * 1024)
    const { entryDir, writer, putAll } = await writerWithChunks(t, manifest, data)
    let fail: (() => void) | undefined
    const restore = await replaced('datasync', () => new Promise<void>((_, reject) => (fail = () => reject(ioError()))))
    try {
      await putAll()
      assert.ok(fail, 'no write-back started')
      const closing = writer.close()
      await new Promise((r) => setTimeout(r, 50))
      fail()
      await closing
    } finally {
      restore()
    }
    assert.ok(hasCode(writer.failure, 'E_IO'))
    assert.equal(await readPackedHave(entryDir, manifest.chunks.length), undefined, 'data.have still lists chunks')
  })

  it('the final name is made durable: the downloads directory is synced once the name is there, also a name found there already', async (t) => {
    const { data, manifest } = sample(2 * 4096, 4096)
    const dir = await downloadsDir(t)
    const named = join(dir, 'file.bin')
    const syncs: boolean[] = [] // for each directory sync, whether the final name was there
    const restore = await replaced('sync', async function (this: FileHandle) {
      if ((await this.stat()).isDirectory()) syncs.push(existsSync(named))
    })
    try {
      for (const entry of ['first', 'second']) {
        const entryDir = join(dir, '..', entry)
        await mkdir(entryDir)
        const writer = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
        for (const i of [0, 1]) await put(writer, i, data.subarray(i * 4096, (i + 1) * 4096))
        const result = await writer.finish()
        assert.equal(result.path, named)
        assert.equal(result.alreadyThere, entry === 'second')
      }
    } finally {
      restore()
    }
    assert.deepEqual(syncs, [true, true])
  })

  it('a downloads directory the download makes is synced into its parent, as is each parent it makes; one already there is not', async (t) => {
    const { data, manifest } = sample(2 * 4096, 4096)
    const root = join(await downloadsDir(t), '..')
    const dir = join(root, 'made', 'deeper', 'downloads')
    const synced: string[] = [] // the directories synced, in order
    const restore = await replaced('sync', async function (this: FileHandle) {
      if ((await this.stat()).isDirectory()) synced.push(readlinkSync(`/proc/self/fd/${this.fd}`))
    })
    try {
      for (const entry of ['first', 'second']) {
        const entryDir = join(root, entry)
        await mkdir(entryDir)
        const writer = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
        if (entry === 'first')
          assert.deepEqual(synced.splice(0), [join(root, 'made', 'deeper'), join(root, 'made'), root], 'at open')
        else assert.deepEqual(synced.splice(0), [], 'nothing made, nothing synced at open')
        for (const i of [0, 1]) await put(writer, i, data.subarray(i * 4096, (i + 1) * 4096))
        await writer.finish()
        assert.deepEqual(synced.splice(0), [dir], 'the final name')
      }
    } finally {
      restore()
    }
  })

  it("a downloads directory made under a linked parent (a user's ~/dl linked elsewhere): made, synced, the file named there", async (t) => {
    const { data, manifest } = sample(2 * 4096, 4096)
    const root = join(await downloadsDir(t), '..')
    await mkdir(join(root, 'real'))
    await symlink(join(root, 'real'), join(root, 'link'))
    const dir = join(root, 'link', 'new', 'downloads')
    const entryDir = join(root, 'entry')
    await mkdir(entryDir)
    const writer = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
    for (const i of [0, 1]) await put(writer, i, data.subarray(i * 4096, (i + 1) * 4096))
    const result = await writer.finish()
    assert.equal(result.path, join(dir, 'file.bin'))
    assert.deepEqual(await readdir(join(root, 'real', 'new', 'downloads')), ['file.bin'])
  })

  it('a directory sync that fails after the name: E_IO naming the file, which stays under its name', async (t) => {
    const { data, manifest } = sample(2 * 4096, 4096)
    const { dir, writer, putAll } = await writerWithChunks(t, manifest, data)
    await putAll()
    const restore = await replaced('sync', async function (this: FileHandle) {
      if ((await this.stat()).isDirectory()) throw ioError()
    })
    try {
      await assert.rejects(
        writer.finish(),
        (err) => hasCode(err, 'E_IO') && err.message.includes(join(dir, 'file.bin')) && /power loss/.test(err.message),
      )
    } finally {
      restore()
    }
    assert.deepEqual(await readdir(dir), ['file.bin'])
  })
})
