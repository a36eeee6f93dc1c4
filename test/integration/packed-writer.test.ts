import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { numbered } from '../../src/core/download/final-name.js'
import { SharedDataChanged } from '../../src/core/download/packed-data.js'
import { PackedWriter } from '../../src/core/download/packed-writer.js'
import { hasCode } from '../../src/core/errors.js'
import { HashPace } from '../../src/core/hash-pace.js'
import type { Manifest } from '../../src/core/manifest.js'
import { packedDataPath, readPackedHave } from '../../src/core/packed.js'
import { downloadsDir, put, sample, sha } from '../helpers/packed-writer.js'

async function stitch(
  dir: string,
  data: Buffer,
  manifest: Manifest,
  order: number[],
  force = false,
  entry = `entry-${manifest.name}`,
) {
  const entryDir = join(dir, '..', entry)
  await mkdir(entryDir, { recursive: true })
  const s = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
  await Promise.all(order.map((i) => put(s, i, data.subarray(i * manifest.chunkSize, (i + 1) * manifest.chunkSize))))
  return s.finish({ force })
}

describe('packed writer', () => {
  it('chunks fast enough for the hash thread: each is accepted as the thread gave it back, the whole file checks', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(24 * 1024 * 1024 + 5, 1024 * 1024, 'fast.bin')
    const order = fc.sample(fc.shuffledSubarray([...manifest.chunks.keys()], { minLength: 25 }), 1)[0]!
    const result = await stitch(dir, data, manifest, order) // 24 MiB at once: past the main thread's pace
    assert.equal(result.sha256, manifest.sha256)
    assert.equal(sha(await readFile(result.path)), sha(data))
  })

  it("a manifest whose whole-file hash its chunks do not make: E_CHECKSUM naming the manifest's fault, nothing placed", async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(3 * 4096 + 9, 4096, 'liar.bin')
    await assert.rejects(
      stitch(dir, data, { ...manifest, sha256: 'b'.repeat(64) }, [0, 1, 2, 3]),
      (e) =>
        hasCode(e, 'E_CHECKSUM') && /each chunk matched, so the manifest is inconsistent/.test((e as Error).message),
    )
    assert.deepEqual(await readdir(dir), [], 'nothing placed, nothing left')
  })

  it('builds the exact file from chunks in any order and leaves no .part', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(10 * 4096 + 17, 4096)
    const order = [10, 3, 0, 1, 2, 9, 8, 4, 5, 7, 6]
    const result = await stitch(dir, data, manifest, order)
    assert.equal(result.sha256, manifest.sha256)
    assert.equal(sha(await readFile(result.path)), sha(data))
    assert.deepEqual(await readdir(dir), ['file.bin'])
  })

  it("writes each byte once: the final file is a hard link to the entry's data, which data.have lists whole", async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(6 * 4096 + 5, 4096)
    const result = await stitch(dir, data, manifest, [6, 5, 4, 3, 2, 1, 0])
    const entryDir = join(dir, '..', `entry-${manifest.name}`)
    assert.equal((await stat(result.path)).ino, (await stat(packedDataPath(entryDir))).ino)
    assert.equal((await readPackedHave(entryDir, 7))?.count(), 7)
  })

  it('publishes what data holds on close, and a re-run reads it back', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(4 * 4096, 4096)
    const entryDir = join(dir, '..', 'entry')
    await mkdir(entryDir)
    const first = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
    await put(first, 2, data.subarray(2 * 4096, 3 * 4096))
    await first.close()
    assert.deepEqual((await readPackedHave(entryDir, 4))?.indices(), [2])
    const again = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
    assert.ok((await again.read(2, Buffer.alloc(4096))).equals(data.subarray(2 * 4096, 3 * 4096)))
    await again.close()
    assert.deepEqual(await readdir(dir), [], 'nothing in downloads/ before the end')
  })

  it("never writes into the user's copy: a re-run after the downloaded file was edited gets its own data", async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(3 * 4096, 4096, 'doc.txt')
    const first = await stitch(dir, data, manifest, [0, 1, 2])
    const entryDir = join(dir, '..', 'entry-doc.txt')
    const edited = Buffer.from(data)
    edited.fill(0x41, 0, 100)
    await writeFile(first.path, edited) // in place: same inode as the store's data
    const again = await stitch(dir, data, manifest, [2, 1, 0])
    assert.deepEqual(await readFile(first.path), edited, 'the edited file is untouched')
    assert.equal(again.path, join(dir, 'doc (1).txt'))
    assert.equal(sha(await readFile(again.path)), manifest.sha256)
    assert.notEqual((await stat(first.path)).ino, (await stat(packedDataPath(entryDir))).ino)
  })

  it('a re-run of a finished file, every chunk listed, checks data where it is: no copy, never written; a chunk that fails ends the run', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(3 * 4096, 4096, 'kept.txt')
    const first = await stitch(dir, data, manifest, [0, 1, 2])
    const entryDir = join(dir, '..', 'entry-kept.txt')
    const again = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest, keepShared: true })
    try {
      assert.equal((await stat(packedDataPath(entryDir))).ino, (await stat(first.path)).ino, 'no private copy')
      assert.throws(
        () => again.verifyAndWrite(0, data.subarray(0, 4096), manifest.chunks[0]!),
        (e) => hasCode(e, 'E_INTERNAL'),
      )
      assert.throws(
        () => again.drop(1),
        (e) => e instanceof SharedDataChanged && e.index === 1,
      )
    } finally {
      await again.close()
    }
    assert.equal((await readPackedHave(entryDir, 3))?.count(), 3, 'data.have still lists every chunk')
    assert.deepEqual(await readFile(first.path), data)
  })

  it('--force over its own earlier result leaves no .part', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(2 * 4096, 4096)
    await stitch(dir, data, manifest, [0, 1])
    const forced = await stitch(dir, data, manifest, [1, 0], true)
    assert.equal(sha(await readFile(forced.path)), manifest.sha256)
    assert.deepEqual(await readdir(dir), ['file.bin'])
  })

  it('keeps no buffer: chunks ahead of their turn, their buffers overwritten once accepted, are read back for the hash', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(20 * 4096, 4096, 'reused.bin')
    const entryDir = join(dir, '..', 'entry')
    await mkdir(entryDir)
    const s = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
    await writeFile(packedDataPath(entryDir), data) // the bytes are in data, as the hash thread would have left them
    for (const i of [...Array.from({ length: 19 }, (_, k) => 19 - k), 0]) {
      const buffer = Buffer.from(data.subarray(i * 4096, (i + 1) * 4096))
      s.accept(i, buffer)
      buffer.fill(0xee) // the pool reuses it at once
    }
    const result = await s.finish()
    assert.equal(result.sha256, manifest.sha256)
  })

  it('a 40 MiB catch-up (one late chunk ahead of all the rest, every other chunk read back) hashes right', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(40 * 1024 * 1024, 1024 * 1024, 'late.bin')
    const order = [...Array.from({ length: 39 }, (_, i) => 39 - i), 0] // chunk 0 last
    const result = await stitch(dir, data, manifest, order)
    assert.equal(result.sha256, manifest.sha256)
    assert.equal(sha(await readFile(result.path)), manifest.sha256)
  })

  it('handles a 0-byte file', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(0, 4096, 'empty')
    const result = await stitch(dir, data, manifest, [])
    assert.equal((await readFile(result.path)).length, 0)
  })

  it('keeps a different file under the final name and numbers the new one; an identical one is kept as is', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(5000, 4096, 'movie.mkv')
    await writeFile(join(dir, 'movie.mkv'), 'something else')
    const first = await stitch(dir, data, manifest, [0, 1])
    assert.equal(first.path, join(dir, 'movie (1).mkv'))
    assert.equal(await readFile(join(dir, 'movie.mkv'), 'utf8'), 'something else')
    const again = await stitch(dir, data, manifest, [1, 0])
    assert.equal(again.path, join(dir, 'movie (1).mkv'))
    assert.ok(again.alreadyThere)
    const forced = await stitch(dir, data, manifest, [0, 1], true)
    assert.equal(forced.path, join(dir, 'movie.mkv'))
    assert.equal(sha(await readFile(forced.path)), sha(data))
  })

  it('refuses to name a file whose whole hash is wrong (E_CHECKSUM) and removes the .part', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(5000, 4096)
    const wrong = { ...manifest, sha256: '0'.repeat(64) }
    await assert.rejects(stitch(dir, data, wrong, [0, 1]), (err) => hasCode(err, 'E_CHECKSUM'))
    assert.deepEqual(await readdir(dir), [])
  })

  it('numbers names like a browser does', () => {
    assert.equal(numbered('movie.mkv', 1), 'movie (1).mkv')
    assert.equal(numbered('README', 2), 'README (2)')
    assert.equal(numbered('.bashrc', 1), '.bashrc (1)')
    assert.equal(numbered('archive.tar.gz', 3), 'archive.tar (3).gz')
  })

  it('saves unportable names under their portable form, and a 255-byte name with its .part and numbered forms', async (t) => {
    const dir = await downloadsDir(t)
    const long = `${'é'.repeat(120)}${'x'.repeat(11)}.bin`
    for (const [name, local] of [
      ['CON', 'CON_'],
      ['nul.txt', 'nul_.txt'],
      ['a:b', 'a_b'],
      ['name. ', 'name._'],
      [long, long],
    ] as const) {
      const { data, manifest } = sample(5000, 4096, name)
      const result = await stitch(dir, data, manifest, [1, 0], false, `entry-${local.length}`)
      assert.equal(result.path, join(dir, local))
      assert.equal(sha(await readFile(result.path)), sha(data))
    }
    const { data, manifest } = sample(100, 4096, long)
    const second = await stitch(dir, data, manifest, [0], false, 'entry-other')
    assert.ok(Buffer.byteLength(second.path.slice(dir.length + 1)) <= 255 && second.path.endsWith(' (1).bin'))
    assert.equal((await readdir(dir)).filter((f) => f.endsWith('.part')).length, 0)
  })

  it('refuses an entry directory that is a symlink: nothing is written through it (canary untouched)', async (t) => {
    const dir = await downloadsDir(t)
    const canary = join(dir, '..', 'canary')
    await mkdir(canary)
    const entryDir = join(dir, '..', 'chunks', 'linked')
    await mkdir(join(entryDir, '..'))
    await symlink(canary, entryDir)
    const { manifest } = sample(5000, 4096)
    await assert.rejects(
      PackedWriter.open({ entryDir, downloadsDir: dir, manifest }),
      (err) => hasCode(err, 'E_IO') && /symbolic link/.test((err as Error).message),
    )
    assert.deepEqual(await readdir(canary), [])
  })

  it('never names a file that is not the verified data: data swapped for a link or another file before the end → E_IO, nothing in downloads/', async (t) => {
    for (const swap of ['link', 'file'] as const) {
      const dir = await downloadsDir(t)
      const { data, manifest } = sample(3 * 4096, 4096)
      const entryDir = join(dir, '..', 'entry')
      await mkdir(entryDir)
      const s = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
      for (const i of [0, 1, 2]) await put(s, i, data.subarray(i * 4096, (i + 1) * 4096))
      await writeFile(join(dir, '..', 'forged'), randomBytes(3 * 4096))
      await rename(packedDataPath(entryDir), join(dir, '..', 'verified-data'))
      if (swap === 'link') await symlink(join(dir, '..', 'forged'), packedDataPath(entryDir))
      else await rename(join(dir, '..', 'forged'), packedDataPath(entryDir))
      await assert.rejects(
        s.finish(),
        (err) => hasCode(err, 'E_IO') && /not the file that was verified/.test((err as Error).message),
        swap,
      )
      assert.deepEqual(await readdir(dir), [], swap)
    }
  })

  it("is the one owner of data's descriptor: a chunk that fails its hash is not written; once closing begins no write starts, and close waits for the pending ones, on the hash thread or the main thread (property)", async (t) => {
    const root = await downloadsDir(t)
    const CHUNK = 256 * 1024 // big enough that writes are still queued (on the thread, or libuv's pool) when close is called
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ index: fc.nat(15), good: fc.boolean() }), { minLength: 1, maxLength: 40 }),
        fc.nat(40),
        fc.boolean(),
        async (writes, closeAfter, onThread) => {
          const dir = join(root, `run-${run++}`)
          const entryDir = join(dir, 'entry')
          await mkdir(entryDir, { recursive: true })
          const { data, manifest } = sample(16 * CHUNK, CHUNK)
          const writer = await PackedWriter.open({
            entryDir,
            downloadsDir: join(dir, 'downloads'),
            manifest,
            hashPace: new HashPace(onThread ? 0 : Number.POSITIVE_INFINITY), // either path, whatever the pace
          })
          const outcomes: Array<Promise<string>> = []
          let closed: Promise<void> | undefined
          for (const [n, { index, good }] of writes.entries()) {
            if (n === closeAfter) closed = writer.close()
            const bytes = good ? Buffer.from(data.subarray(index * CHUNK, (index + 1) * CHUNK)) : randomBytes(CHUNK)
            outcomes.push(writer.verifyAndWrite(index, bytes, manifest.chunks[index]!).then((v) => v.outcome))
          }
          closed ??= writer.close()
          const second = writer.close() // any caller gets the one close
          // The descriptor number comes back to the next file opened: a write still pending would land there.
          await closed
          const bystander = await open(join(dir, 'bystander'), 'w+')
          const results = await Promise.all(outcomes)
          await second
          const bystanderSize = (await bystander.stat()).size
          await bystander.close()
          assert.equal(bystanderSize, 0, 'a write reached another file through a closed descriptor')
          const onDisk = await readFile(packedDataPath(entryDir))
          for (const [n, { good }] of writes.entries()) {
            const expected = n >= Math.min(closeAfter, writes.length) ? 'closed' : good ? 'written' : 'mismatch'
            assert.equal(results[n], expected, `write ${n}`)
          }
          for (let index = 0; index < 16; index++) {
            const written = writes.some(({ index: i, good }, n) => i === index && good && n < closeAfter)
            const chunk = onDisk.subarray(index * CHUNK, (index + 1) * CHUNK)
            assert.ok(
              written ? chunk.equals(data.subarray(index * CHUNK, (index + 1) * CHUNK)) : chunk.every((b) => b === 0),
              `chunk ${index}`,
            )
          }
        },
      ),
      { numRuns: 40 },
    )
  })

  it('calls beforeFinalName with the verified .part in place and the final name not yet claimed', async (t) => {
    const dir = await downloadsDir(t)
    const { data, manifest } = sample(2 * 4096, 4096, 'hooked.bin')
    const entryDir = join(dir, '..', 'entry')
    await mkdir(entryDir)
    const s = await PackedWriter.open({ entryDir, downloadsDir: dir, manifest })
    for (const i of [1, 0]) await put(s, i, data.subarray(i * 4096, (i + 1) * 4096))
    let seen: string[] = []
    const result = await s.finish({
      beforeFinalName: async () => {
        seen = await readdir(dir)
      },
    })
    assert.deepEqual(seen, ['hooked.bin.part'])
    assert.equal(sha(await readFile(result.path)), manifest.sha256)
  })
})
