import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { open, rename, symlink, writeFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { Announcer } from '../../src/core/discovery/announcer.js'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { PackedWriter } from '../../src/core/download/packed-writer.js'
import { hasCode } from '../../src/core/errors.js'
import type { FileIdentity } from '../../src/core/file-identity.js'
import { HashPace } from '../../src/core/hash-pace.js'
import { hashThreads } from '../../src/core/hash-pool.js'
import { packedDataPath, readPackedHave, writePackedHave } from '../../src/core/packed.js'
import { VouchedChunks } from '../../src/core/vouched-chunks.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { servedEntry } from '../helpers/served-entry.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

const KiB = 1024
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/**
 * A store entry being downloaded into (a PackedWriter with `vouch`, as
 * `p2p-download --seed` opens it) and a real server on the same store with
 * the same VouchedChunks, fetched from by a real client over loopback.
 */
async function setup(
  t: Cleanup,
  chunks: number,
  chunkSize = 4 * KiB,
  serving: { vouched?: VouchedChunks; hashPace?: HashPace } = {},
) {
  const vouched = serving.vouched ?? new VouchedChunks()
  const entry = await servedEntry(t, {
    chunks,
    chunkSize,
    shortBy: 7,
    name: 'file.bin',
    serving: { ...serving, vouched },
  })
  const { entryDir, downloadsDir, manifest } = entry
  /** The download's writer, as `p2p-download --seed` opens it (publishing at once). */
  const writer = () => PackedWriter.open({ entryDir, downloadsDir, manifest, vouch: vouched, publishMs: 0 })
  return { ...entry, vouched, writer }
}

/** A bitfield of `n` chunks, all set. */
function bitsUpTo(n: number): Bitfield {
  const bits = new Bitfield(n)
  for (let i = 0; i < n; i++) bits.set(i)
  return bits
}

/** `bytes` written at `offset` of the file at `path`, synchronously. */
function writeFileAt(path: string, bytes: Buffer, offset: number): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, bytes, 0, bytes.length, offset)
  } finally {
    closeSync(fd)
  }
}

/** Until `data.have` lists `count` chunks (the writer publishes within its publish interval). */
async function published(entryDir: string, chunks: number, count: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (((await readPackedHave(entryDir, chunks))?.count() ?? 0) < count) {
    if (Date.now() > deadline) throw new Error(`data.have never listed ${count} chunks`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Until `check` holds of what `listener` heard of `id` from its one peer (bounded). */
async function heard(listener: DiscoveryListener, id: string, check: (have: Bitfield) => boolean): Promise<Bitfield> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const have = listener.files().find((f) => f.id === id)?.peers[0]?.have
    if (have && check(have)) return have
    if (Date.now() > deadline) throw new Error(`never heard that: ${have?.indices().join(',') ?? 'nothing'}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe("an announcer in the download's process (--seed)", () => {
  it('announces what the writer wrote before data.have lists it, and what data.have lists once the writer let go', async (t) => {
    const s = await setup(t, 6)
    const udpPort = await freeUdpPort()
    const announcer = new Announcer({
      store: s.store,
      udpPort,
      tcpPort: 5001,
      broadcast: [BROADCAST],
      intervalMs: 60_000,
      changeDelayMs: 20,
      minBurstGapMs: 50,
      live: s.vouched,
    })
    onCleanup(t, () => announcer.stop())
    const listener = new DiscoveryListener({ udpPort, broadcast: [BROADCAST], staleAfterMs: 60_000 })
    onCleanup(t, () => listener.stop())
    await listener.start()
    await announcer.start()
    // data.have replaced at the first chunk, then not for a minute: only the writer can tell of the others.
    const writer = await PackedWriter.open({ ...s, vouch: s.vouched, publishMs: 60_000 })
    onCleanup(t, () => writer.close())
    for (const i of [0, 3, 5]) {
      assert.equal((await writer.verifyAndWrite(i, s.chunk(i), s.manifest.chunks[i]!)).outcome, 'written')
      writer.accept(i, s.chunk(i))
      if (i === 0) await published(s.entryDir, 6, 1)
    }
    assert.deepEqual((await heard(listener, s.id, (h) => h.count() === 3)).indices(), [0, 3, 5])
    assert.deepEqual((await readPackedHave(s.entryDir, 6))?.indices(), [0], 'data.have lags, by design')
    await writer.close()
    assert.equal(s.vouched.files, 0)
    assert.deepEqual(
      (await readPackedHave(s.entryDir, 6))?.indices(),
      [0, 3, 5],
      'the last publish, before the vouch went',
    )
    announcer.schedule('test')
    await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual((await heard(listener, s.id, () => true)).indices(), [0, 3, 5], 'from data.have now: nothing lost')
  })
})

describe("a server in the download's process (--seed): the download's check stands for the server's", () => {
  it('serves the chunks its download verified and wrote without hashing them, and hashes them once the download let go of data', async (t) => {
    const s = await setup(t, 6)
    const writer = await s.writer()
    for (const i of [4, 0, 2]) {
      assert.equal((await writer.verifyAndWrite(i, s.chunk(i), s.manifest.chunks[i]!)).outcome, 'written')
      writer.accept(i, s.chunk(i))
    }
    await published(s.entryDir, 6, 3)
    assert.equal(s.vouched.files, 1)
    for (const i of [0, 2, 4]) assert.equal(sha(await s.client.fetchChunk(s.id, i)), s.manifest.chunks[i])
    assert.equal(s.server.stats.hashedChunks, 0, 'every chunk served was one the download had checked')
    await assert.rejects(s.client.fetchChunk(s.id, 1), (e) => hasCode(e, 'E_NOT_FOUND'), 'not written yet')
    await writer.close()
    assert.equal(s.vouched.files, 0, 'closing data gives the vouch back')
    assert.equal(sha(await s.client.fetchChunk(s.id, 2)), s.manifest.chunks[2])
    assert.equal(s.server.stats.hashedChunks, 1, 'no writer holds data: hashed before it is served again')
    assert.equal(hashThreads().threadsRunning, 0, 'a chunk hashed now and then is hashed here: no hash thread started')
  })

  it("serves what the writer's own file holds: a chunk changed in place after its check goes out as it is (the receiver's check refuses it); another file put at data's path is hashed and refused", async (t) => {
    const s = await setup(t, 4)
    const writer = await s.writer()
    onCleanup(t, () => writer.close())
    for (const i of [0, 1]) {
      assert.equal((await writer.verifyAndWrite(i, s.chunk(i), s.manifest.chunks[i]!)).outcome, 'written')
      writer.accept(i, s.chunk(i))
    }
    await published(s.entryDir, 4, 2)
    const inPlace = await open(packedDataPath(s.entryDir), 'r+')
    await inPlace.write(Buffer.alloc(10, 1), 0, 10, 100) // chunk 0, same file: the documented trade (docs/security.md)
    await inPlace.close()
    assert.notEqual(
      sha(await s.client.fetchChunk(s.id, 0)),
      s.manifest.chunks[0],
      'served unhashed: a receiver strikes it',
    )
    assert.equal(s.server.stats.hashedChunks, 0)
    const replacement = `${packedDataPath(s.entryDir)}.new`
    await writeFile(replacement, Buffer.alloc(s.data.length, 2))
    await rename(replacement, packedDataPath(s.entryDir)) // another file at the path: the vouch is the writer's file's only
    await assert.rejects(s.client.fetchChunk(s.id, 1), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(s.server.stats.hashedChunks, 1)
    assert.equal(s.server.stats.corruptChunks, 1)
  })

  it("serves a chunk its download vouches for whatever data.have says: the download's own record answers first", async (t) => {
    const s = await setup(t, 4)
    const writer = await s.writer()
    onCleanup(t, () => writer.close())
    assert.equal((await writer.verifyAndWrite(1, s.chunk(1), s.manifest.chunks[1]!)).outcome, 'written')
    writer.accept(1, s.chunk(1))
    await published(s.entryDir, 4, 1)
    await writePackedHave(s.entryDir, new Bitfield(4)) // a data.have that lags (or was damaged): it lists nothing
    assert.equal(sha(await s.client.fetchChunk(s.id, 1)), s.manifest.chunks[1])
    assert.equal(s.server.stats.hashedChunks, 0)
    await assert.rejects(s.client.fetchChunk(s.id, 2), (e) => hasCode(e, 'E_NOT_FOUND'), 'neither vouched nor listed')
    // A link put at data's path, to a file with the right bytes: never followed, vouched or not.
    const elsewhere = `${s.dir}/elsewhere.bin`
    await writeFile(elsewhere, s.data)
    await symlink(elsewhere, `${packedDataPath(s.entryDir)}.link`)
    await rename(`${packedDataPath(s.entryDir)}.link`, packedDataPath(s.entryDir))
    await assert.rejects(s.client.fetchChunk(s.id, 1), (e) => hasCode(e, 'E_NOT_FOUND'), 'a link at data is not data')
  })

  it('a writer opened again after its close vouches again (the first gave its file back)', async (t) => {
    const s = await setup(t, 2)
    await (await s.writer()).close()
    const again = await s.writer()
    assert.equal(s.vouched.files, 1)
    await again.close()
    assert.equal(s.vouched.files, 0)
  })

  it('a server whose pace says fast (hash-pace.ts) hands its chunks to the hash thread', async (t) => {
    // The earlier tests of this file hash a chunk of 4 KiB at most, on this thread: no thread runs yet.
    assert.equal(hashThreads().threadsRunning, 0)
    const s = await setup(t, 4, 1024 * KiB, { hashPace: new HashPace(0) })
    await writeFile(packedDataPath(s.entryDir), s.data)
    await writePackedHave(s.entryDir, bitsUpTo(4))
    const bodies = await Promise.all(Array.from({ length: 4 }, (_, i) => s.client.fetchChunk(s.id, i)))
    assert.equal(sha(Buffer.concat(bodies)), s.manifest.sha256)
    assert.equal(s.server.stats.hashedChunks, 4)
    assert.ok(hashThreads().threadsRunning > 0)
  })

  it('asks the vouch before it reads: bytes read before a chunk was accepted are never served unhashed', async (t) => {
    let correct: Buffer | undefined
    let dataPath = ''
    let offset = 0
    // A download that accepts chunk 1 at the moment the server asks about it: its right bytes land in data just then.
    class AcceptsWhenAsked extends VouchedChunks {
      override has(path: string, opened: FileIdentity, index: number): boolean {
        if (correct) writeFileAt(dataPath, correct, offset)
        return super.has(path, opened, index) || (index === 1 && correct !== undefined)
      }
    }
    const s = await setup(t, 3, 4 * KiB, { vouched: new AcceptsWhenAsked() })
    dataPath = packedDataPath(s.entryDir)
    offset = 4 * KiB
    correct = Buffer.from(s.chunk(1))
    const garbage = Buffer.from(s.data)
    garbage.fill(7, offset, offset + correct.length)
    await writeFile(dataPath, garbage)
    await writePackedHave(s.entryDir, bitsUpTo(3))
    assert.equal(sha(await s.client.fetchChunk(s.id, 1)), s.manifest.chunks[1], 'the read came after the vouch')
    assert.equal(s.server.stats.hashedChunks, 0)
  })

  it('still hashes, and refuses, a chunk data.have lists that this download did not check (damaged behind its back)', async (t) => {
    const s = await setup(t, 4)
    // A run before this one left chunk 3 listed, and its bytes were damaged since.
    const file = await open(packedDataPath(s.entryDir), 'w')
    await file.write(Buffer.alloc(s.chunk(3).length, 9), 0, s.chunk(3).length, 3 * 4 * KiB)
    await file.close()
    const left = new Bitfield(4)
    left.set(3)
    await writePackedHave(s.entryDir, left)
    const writer = await s.writer()
    onCleanup(t, () => writer.close())
    assert.equal(writer.inherited.get(3), true, 'listed by the last run: still published until checked')
    assert.equal((await writer.verifyAndWrite(1, s.chunk(1), s.manifest.chunks[1]!)).outcome, 'written')
    writer.accept(1, s.chunk(1))
    await published(s.entryDir, 4, 2)
    assert.equal(sha(await s.client.fetchChunk(s.id, 1)), s.manifest.chunks[1])
    assert.equal(s.server.stats.hashedChunks, 0)
    await assert.rejects(s.client.fetchChunk(s.id, 3), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(s.server.stats.hashedChunks, 1, 'a chunk the download has not checked is hashed')
    assert.equal(s.server.stats.corruptChunks, 1, 'and its damage found: never served')
  })
})
