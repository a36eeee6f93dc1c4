import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { open, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { hasCode } from '../../src/core/errors.js'
import { packedDataPath, readPackedHave, writePackedHave } from '../../src/core/packed.js'
import {
  decodeWriterVouch,
  encodeWriterVouch,
  VOUCH_GAP_MS,
  WriterVouchPublisher,
  writerVouchPath,
} from '../../src/core/writer-vouch.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'
import { servedEntry } from '../helpers/served-entry.js'

const CHUNK = 4 * 1024
const CHILD = join(import.meta.dirname, '..', 'helpers', 'packed-writer-child.js')
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** A store entry, a server on it with no download in its process, and a client of that server over loopback. */
async function setup(t: Cleanup, chunks: number) {
  const entry = await servedEntry(t, { chunks, chunkSize: CHUNK, shortBy: 5, name: 'f.bin' })
  const { dir, entryDir, downloadsDir } = entry
  await writeFile(join(dir, 'manifest.json'), entry.bytes)
  await writeFile(join(dir, 'source.bin'), entry.data)
  /** The download's writer, in a process of its own. */
  const writer = () =>
    WriterProcess.start(t, [entryDir, downloadsDir, join(dir, 'manifest.json'), join(dir, 'source.bin')])
  return { ...entry, writer }
}

class WriterProcess {
  private readonly lines: AsyncIterator<string>

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  }

  static async start(t: Cleanup, args: string[]): Promise<WriterProcess> {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: 'pipe' })
    onCleanup(t, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    const w = new WriterProcess(child)
    assert.equal(await w.next(), 'open')
    return w
  }

  async send(line: string): Promise<string> {
    this.child.stdin.write(`${line}\n`)
    return this.next()
  }

  async kill(): Promise<void> {
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
  }

  private async next(): Promise<string> {
    const { value, done } = await this.lines.next()
    if (done) throw new Error(`the writer process ended (${this.child.exitCode ?? this.child.signalCode})`)
    return value
  }
}

/** Until `data.have` lists `count` chunks. */
async function published(entryDir: string, chunks: number, count: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (((await readPackedHave(entryDir, chunks))?.count() ?? 0) < count) {
    if (Date.now() > deadline) throw new Error(`data.have never listed ${count} chunks`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Until the writer's `data.vouch` lists chunk `index`. */
async function vouched(entryDir: string, chunks: number, index: number): Promise<void> {
  const deadline = Date.now() + 10_000
  const lists = async () => {
    const bytes = await readFile(writerVouchPath(entryDir)).catch(() => undefined)
    return bytes !== undefined && decodeWriterVouch(bytes, chunks)?.verified.get(index) === true
  }
  while (!(await lists())) {
    if (Date.now() > deadline) throw new Error(`data.vouch never listed chunk ${index}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('a p2p-serve beside a download in another process (data.vouch)', () => {
  it('serves what the download verified and wrote without hashing it; once the writer is killed, hashes it again', async (t) => {
    const s = await setup(t, 6)
    const w = await s.writer()
    for (const i of [4, 0, 2]) assert.equal(await w.send(`write ${i}`), `written ${i}`)
    await published(s.entryDir, 6, 3)
    await vouched(s.entryDir, 6, 2)
    for (const i of [0, 2, 4]) assert.equal(sha(await s.client.fetchChunk(s.id, i)), s.manifest.chunks[i])
    assert.equal(s.server.stats.hashedChunks, 0, 'the download in the other process checked each of them')
    await assert.rejects(s.client.fetchChunk(s.id, 1), (e) => hasCode(e, 'E_NOT_FOUND'), 'not written yet')
    await w.kill()
    assert.ok(existsSync(writerVouchPath(s.entryDir)), 'a killed writer leaves its vouch behind')
    assert.equal(sha(await s.client.fetchChunk(s.id, 2)), s.manifest.chunks[2])
    assert.equal(s.server.stats.hashedChunks, 1, 'its writer is gone: the vouch is worth nothing')
  })

  it('a writer that closes takes its vouch back; the next vouches only for what it verifies itself', async (t) => {
    const s = await setup(t, 4)
    const first = await s.writer()
    assert.equal(await first.send('write 1'), 'written 1')
    await vouched(s.entryDir, 4, 1)
    assert.equal(await first.send('close'), 'closed')
    assert.equal(existsSync(writerVouchPath(s.entryDir)), false)
    assert.equal(sha(await s.client.fetchChunk(s.id, 1)), s.manifest.chunks[1])
    assert.equal(s.server.stats.hashedChunks, 1)
    // A re-run: chunk 1 is listed when it opens, by the run before; this one vouches only for chunk 3.
    const again = await s.writer()
    assert.equal(existsSync(writerVouchPath(s.entryDir)), false, 'nothing vouches before the new writer wrote')
    assert.equal(await again.send('write 3'), 'written 3')
    await vouched(s.entryDir, 4, 3)
    const vouch = decodeWriterVouch(await readFile(writerVouchPath(s.entryDir)), 4)
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => vouch?.verified.get(i)),
      [false, false, false, true],
    )
    assert.equal(vouch?.writer.pid, again.child.pid)
    // Served again in this server: a stamp it hashed does not last across the other writer's writes.
    assert.equal(sha(await s.client.fetchChunk(s.id, 1)), s.manifest.chunks[1])
    assert.equal(sha(await s.client.fetchChunk(s.id, 3)), s.manifest.chunks[3])
    assert.equal(s.server.stats.hashedChunks, 2, 'chunk 1 hashed again, chunk 3 not')
  })

  it('takes the vouch back before the finished file gets its final name (a link to data)', async (t) => {
    const s = await setup(t, 2)
    const w = await s.writer()
    for (const i of [0, 1]) assert.equal(await w.send(`write ${i}`), `written ${i}`)
    await vouched(s.entryDir, 2, 1)
    assert.equal(await w.send('finish'), 'finished, vouch at the final name: false')
    assert.equal(existsSync(writerVouchPath(s.entryDir)), false)
  })

  it('still hashes, and refuses, a chunk listed before the writer opened (damaged behind its back), and anything in another file put at data', async (t) => {
    const s = await setup(t, 4)
    const file = await open(packedDataPath(s.entryDir), 'w')
    await file.write(Buffer.alloc(CHUNK, 9), 0, CHUNK, 3 * CHUNK)
    await file.close()
    const left = new Bitfield(4)
    left.set(3)
    await writePackedHave(s.entryDir, left)
    const w = await s.writer()
    assert.equal(await w.send('write 0'), 'written 0')
    await published(s.entryDir, 4, 2)
    await vouched(s.entryDir, 4, 0)
    await assert.rejects(s.client.fetchChunk(s.id, 3), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(s.server.stats.hashedChunks, 1)
    assert.equal(sha(await s.client.fetchChunk(s.id, 0)), s.manifest.chunks[0])
    assert.equal(s.server.stats.hashedChunks, 1)
    const replacement = `${packedDataPath(s.entryDir)}.new`
    await writeFile(replacement, Buffer.alloc(s.manifest.size, 2))
    await rename(replacement, packedDataPath(s.entryDir))
    await assert.rejects(s.client.fetchChunk(s.id, 0), (e) => hasCode(e, 'E_NOT_FOUND'))
    assert.equal(s.server.stats.hashedChunks, 2, 'the vouch is for the file the writer opened, not the path')
  })

  it("a vouch naming a live process by the wrong start time, an unreadable one, another item's, or one behind a link or a FIFO, vouches for nothing (and never blocks)", async (t) => {
    const s = await setup(t, 6)
    const w = await s.writer()
    const path = writerVouchPath(s.entryDir)
    const elsewhere = join(s.entryDir, '..', 'elsewhere.vouch')
    const variants: Array<(real: Buffer) => Promise<void>> = [
      (real) => {
        const vouch = decodeWriterVouch(real, 6)!
        const forged = { ...vouch, writer: { ...vouch.writer, start: `${BigInt(vouch.writer.start) + 1n}` } }
        return writeFile(path, encodeWriterVouch(forged))
      },
      () => writeFile(path, '{"version":1'),
      (real) => writeFile(path, encodeWriterVouch({ ...decodeWriterVouch(real, 6)!, id: 'e'.repeat(64) })), // another item's
      (real) => unlink(path).then(() => writeFile(elsewhere, real).then(() => symlink(elsewhere, path))),
      () => unlink(path).then(() => mkfifo(path)),
      async () => undefined, // the writer's own
    ]
    for (const [i, make] of variants.entries()) {
      assert.equal(await w.send(`write ${i}`), `written ${i}`)
      await vouched(s.entryDir, 6, i) // the writer's last publish is in: nothing replaces what follows
      await make(await readFile(path))
      assert.equal(sha(await s.client.fetchChunk(s.id, i)), s.manifest.chunks[i])
      await rm(path, { force: true })
    }
    assert.equal(s.server.stats.hashedChunks, 5, 'hashed under each but the real vouch')
  })
})

async function mkfifo(path: string): Promise<void> {
  const made = spawnSync('mkfifo', [path])
  assert.equal(made.status, 0, String(made.stderr))
}

describe("a writer's vouches, in order (WriterVouchPublisher)", () => {
  it('writes the newest snapshot offered, at most one write at a time; after stop, none, and none left', async (t) => {
    const dir = await tmpDir(t)
    const publisher = new WriterVouchPublisher(dir, 'a'.repeat(64), { dev: 1n, ino: 2n })
    const upTo = (n: number): Bitfield => {
      const bits = new Bitfield(16)
      for (let i = 0; i < n; i++) bits.set(i)
      return bits
    }
    const listed = async (): Promise<number | undefined> => {
      const bytes = await readFile(writerVouchPath(dir)).catch(() => undefined)
      return bytes && decodeWriterVouch(bytes, 16)?.verified.count()
    }
    for (let n = 1; n <= 5; n++) publisher.offer(upTo(n))
    const deadline = Date.now() + 5000
    while ((await listed()) !== 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    assert.equal(await listed(), 5, 'the newest of the five offered')
    publisher.offer(upTo(8))
    await publisher.stop()
    assert.equal(existsSync(writerVouchPath(dir)), false, 'removed after the write under way, if any')
    publisher.offer(upTo(9))
    await new Promise((r) => setTimeout(r, VOUCH_GAP_MS * 2))
    assert.equal(existsSync(writerVouchPath(dir)), false, 'nothing published after stop')
  })
})
