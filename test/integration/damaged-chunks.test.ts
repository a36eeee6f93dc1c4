import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { truncate, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import type { Manifest } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { encodeFrame } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { mkfifo, randomFile, tmpDir } from '../helpers/files.js'
import { checkAnswers, pipeline, type RawClient, rawClient, sha256, until } from '../helpers/raw-client.js'

/**
 * Chunks damaged in the store, asked for over and over by clients on real
 * sockets: what the server logs about them stays bounded, and a chunk put
 * back is served at once; a chunk rewritten in place while it is served
 * (by another process) never reaches a client unchecked.
 */

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Rewrites `path` in place (pwrite at 0, its size unchanged): the good bytes, held `goodMs` (long enough for the
 * server to check them and serve them from its record), then the bad, held `badMs`, in turn for `forMs`; the good
 * ones last. Prints how many times it wrote the bad bytes.
 */
const FLIPPER = `
const fs = require('node:fs')
const [path, good, bad, goodMs, badMs, forMs] = process.argv.slice(1)
const bytes = [fs.readFileSync(good), fs.readFileSync(bad)]
const fd = fs.openSync(path, 'r+')
const pause = new Int32Array(new SharedArrayBuffer(4))
const end = Date.now() + Number(forMs)
let n = 0
while (Date.now() < end) {
  fs.writeSync(fd, bytes[1], 0, bytes[1].length, 0)
  n++
  Atomics.wait(pause, 0, 0, Number(badMs))
  fs.writeSync(fd, bytes[0], 0, bytes[0].length, 0)
  Atomics.wait(pause, 0, 0, Number(goodMs))
}
fs.closeSync(fd)
process.stdout.write(String(n))
`
const DAMAGE_LINE = 'chunk on disk does not match its manifest'

async function seeder(t: Cleanup, chunks: number, chunkSize: number) {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  await randomFile(join(dir, 'f.bin'), chunks * chunkSize)
  const split = await splitFile(join(dir, 'f.bin'), { store, chunkSize })
  const entry = (await store.get(split.id))!
  const lines: string[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  const server = new ChunkServer({ store, host: '127.0.0.1', port: 0, log })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(50))
  return {
    dir,
    server,
    port,
    id: split.id,
    manifests: new Map<string, Manifest>([[split.id, entry.manifest as Manifest]]),
    chunkPath: (index: number) => store.chunkPath(entry.dir, index),
    damageLines: () => lines.filter((l) => l.includes(DAMAGE_LINE)),
  }
}

/** `clients` connections from addresses of their own, each asking for `index` `times` times; resolves with them once answered. */
async function askOverAndOver(
  t: Cleanup,
  port: number,
  id: string,
  index: number,
  clients: number,
  times: number,
): Promise<RawClient[]> {
  const all = await Promise.all(
    Array.from({ length: clients }, (_, i) => rawClient(t, port, { localAddress: `127.0.3.${i + 2}` })),
  )
  for (const c of all) pipeline(c, id, new Array<number>(times).fill(index))
  assert.ok(
    await until(() => all.every((c) => c.frames.length >= times || c.closed()), 20_000),
    'every request answered',
  )
  for (const c of all) c.socket.destroy()
  return all
}

describe('damaged chunks asked for over and over', () => {
  it('a chunk of the wrong size (truncated, grown, a FIFO in its place) is logged once per file stamp, then refused unlogged; put back, it is served at once', async (t) => {
    const s = await seeder(t, 8, 64 * KiB)
    const path = s.chunkPath(5)
    const good = readFileSync(path)
    const refusedAll = (clients: RawClient[], why: string): void => {
      for (const c of clients)
        for (const f of c.frames) {
          assert.equal(f.header.type, 'error', JSON.stringify(f.header))
          assert.equal(f.header.code, 'E_NOT_FOUND')
          assert.match(String(f.header.message), new RegExp(why))
        }
    }
    await truncate(path, 1000)
    refusedAll(await askOverAndOver(t, s.port, s.id, 5, 4, 200), 'wrong size')
    assert.equal(s.damageLines().length, 1, `800 requests for a truncated chunk: ${s.damageLines().length} lines`)

    await writeFile(path, Buffer.concat([good, Buffer.of(0)])) // grown by a byte: another stamp
    refusedAll(await askOverAndOver(t, s.port, s.id, 5, 4, 200), 'wrong size')
    assert.equal(s.damageLines().length, 2, `a grown chunk: ${s.damageLines().length} lines in all`)

    await unlink(path)
    mkfifo(path)
    refusedAll(await askOverAndOver(t, s.port, s.id, 5, 4, 200), 'wrong size')
    assert.equal(s.damageLines().length, 3, `a FIFO: ${s.damageLines().length} lines in all`)
    assert.equal(s.server.stats.corruptChunks, 3, 'each damage counted once')

    // Put back: a file of its own in the FIFO's place, then the same file truncated and written again in place.
    await unlink(path)
    await writeFile(path, good)
    const [back] = await askOverAndOver(t, s.port, s.id, 5, 1, 1)
    assert.equal(checkAnswers(back!, s.manifests), 1, 'served again once put back')
    await truncate(path, 1000)
    refusedAll(await askOverAndOver(t, s.port, s.id, 5, 1, 3), 'wrong size')
    await writeFile(path, good)
    const [again] = await askOverAndOver(t, s.port, s.id, 5, 1, 1)
    assert.equal(sha256(again!.frames[0]!.body!), s.manifests.get(s.id)!.chunks[5], 'put back in place: served')
    assert.equal(s.damageLines().length, 4)
  })

  it('however many chunks are damaged, their lines are bounded (at most 20 in 10 s)', async (t) => {
    const s = await seeder(t, 64, 4 * KiB)
    for (let i = 0; i < 64; i++) await truncate(s.chunkPath(i), 100)
    const c = await rawClient(t, s.port)
    const asked = Array.from({ length: 3 * 64 }, (_, i) => i % 64)
    pipeline(c, s.id, asked)
    assert.ok(await until(() => c.frames.length >= asked.length, 20_000), 'every request answered')
    assert.ok(c.frames.every((f) => f.header.code === 'E_NOT_FOUND'))
    assert.equal(s.server.stats.corruptChunks, 64)
    const lines = s.damageLines().length
    assert.ok(lines >= 1 && lines <= 20, `${lines} lines for 64 damaged chunks asked 3 times each`)
  })

  it('a chunk rewritten in place while it is served (same size, another process) is never served unchecked', async (t) => {
    const s = await seeder(t, 4, MiB)
    const path = s.chunkPath(1)
    const good = join(s.dir, 'good'),
      bad = join(s.dir, 'bad')
    await writeFile(good, readFileSync(path))
    await writeFile(bad, randomBytes(MiB))
    const want = s.manifests.get(s.id)!.chunks[1]
    const clients = await Promise.all(
      Array.from({ length: 4 }, (_, i) => rawClient(t, s.port, { localAddress: `127.0.4.${i + 2}` })),
    )
    const writer = spawn(process.execPath, ['-e', FLIPPER, path, good, bad, '15', '2', '4000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 20_000,
    })
    onCleanup(t, () => {
      if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL')
    })
    let writes = ''
    writer.stdout.on('data', (d: Buffer) => {
      writes += d.toString()
    })
    const exited = once(writer, 'exit')
    let running = true
    void exited.then(() => {
      running = false
    })
    // Each client keeps 8 requests for the chunk in flight while the writer runs (bounded: 20 s at most).
    const request = encodeFrame({ type: 'chunk', id: s.id, index: 1 })
    const started = Date.now()
    while (running && Date.now() - started < 20_000) {
      for (const c of clients)
        while (c.sent.length - c.frames.length < 8 && !c.closed()) {
          c.sent.push({ type: 'chunk', id: s.id, index: 1 })
          c.socket.write(request)
        }
      await new Promise((r) => setTimeout(r, 1))
    }
    assert.ok(!running, 'the writer ended')
    assert.ok(await until(() => clients.every((c) => c.frames.length === c.sent.length || c.closed()), 10_000))
    let served = 0
    let unchecked = 0
    let refused = 0
    for (const c of clients) {
      assert.ok(!c.closed(), 'no client was closed')
      for (const f of c.frames) {
        if (f.header.type === 'error') {
          assert.equal(f.header.code, 'E_NOT_FOUND', JSON.stringify(f.header))
          refused++
        } else if (sha256(f.body!) === want) served++
        else unchecked++
      }
    }
    const summary = `${Number(writes)} rewrites; ${served} served right, ${refused} refused, ${unchecked} served wrong`
    t.diagnostic(summary)
    assert.equal(unchecked, 0, summary)
    assert.ok(served > 0, `the chunk was served between rewrites: ${summary}`)
    // Asked again on a connection whose address holds an upload slot (a fifth address would be told "not now").
    const last = clients[0]!
    pipeline(last, s.id, [1])
    assert.ok(await until(() => last.frames.length === last.sent.length, 5000))
    const answer = last.frames.at(-1)!
    assert.equal(
      sha256(answer.body ?? Buffer.alloc(0)),
      want,
      `served once the writer left it good: ${JSON.stringify(answer.header)}`,
    )
  })
})
