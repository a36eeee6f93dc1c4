import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { collisionKey } from '../../src/core/tree-paths.js'
import {
  type Announcer,
  type ChunkServer,
  type ChunkStore,
  createAnnouncer,
  createChunkServer,
  createPeerDirectory,
  type DownloadProgress,
  download,
  hasCode,
  openStore,
  type PeerDirectory,
  splitFile,
} from '../../src/index.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { startLiar } from '../helpers/liar.js'
import { otherProcess } from '../helpers/lock-holder.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

/**
 * download() from the public API against servers and announcers in this
 * process (real sockets on loopback, discovery on 127.255.255.255), the way
 * a program embedding p2pshare uses it.
 */

const CHUNK = 64 * 1024

interface Seeder {
  store: ChunkStore
  server: ChunkServer
  announcer: Announcer
  port: number
  id: string
}

/** A store in `dir` holding `file` (split), served and announced on loopback; stopped after the test. */
async function seeder(t: Cleanup, dir: string, file: string, udpPort: number): Promise<Seeder> {
  const store = await openStore({ dir: join(dir, 'chunks') })
  const { id } = await splitFile(file, { store, chunkSize: CHUNK })
  const server = createChunkServer({ store, host: '127.0.0.1', port: 0 })
  const { port } = await server.listen()
  const announcer = createAnnouncer({ store, udpPort, tcpPort: port, broadcast: [BROADCAST], intervalMs: 200 })
  await announcer.start()
  onCleanup(t, async () => {
    await announcer.stop()
    await server.close(0)
  })
  return { store, server, announcer, port, id }
}

/** The downloader's side: its own store and a peer directory listening on the discovery port. */
async function downloader(
  t: Cleanup,
  dir: string,
  udpPort: number,
  id: string,
): Promise<{ store: ChunkStore; peers: PeerDirectory }> {
  const store = await openStore({ dir: join(dir, 'chunks') })
  const peers = createPeerDirectory({
    udpPort,
    broadcast: [BROADCAST],
    staleAfterMs: 10_000,
    want: { id },
    selfPeerId: await store.peerId(),
  })
  await peers.start()
  onCleanup(t, () => peers.stop())
  return { store, peers }
}

describe('download() (public API) against in-process servers and announcers', () => {
  it('fails over when a server closes mid-download: the other completes it, SHA-256 equal', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const size = 8 * 1024 * 1024 + 123
    const sha = await randomFile(join(dir, 'big.bin'), size)
    const a = await seeder(t, join(dir, 'a'), join(dir, 'big.bin'), udp)
    const b = await seeder(t, join(dir, 'b'), join(dir, 'big.bin'), udp)
    const { store, peers } = await downloader(t, join(dir, 'd'), udp, a.id)
    let closedAt: number | undefined
    const progress: DownloadProgress[] = []
    const receipt = await download({
      id: a.id,
      store,
      downloadsDir: join(dir, 'd', 'downloads'),
      peers,
      onProgress: (p) => {
        progress.push(p)
        // As soon as server A has served a chunk, it goes away (its announcer keeps announcing it: a dead peer listed).
        if (closedAt === undefined && a.server.stats.chunksServed > 0) {
          closedAt = p.doneBytes
          void a.server.close(0)
        }
      },
    })
    assert.ok(
      closedAt !== undefined && closedAt < size,
      `server A closed mid-download (at ${closedAt} of ${size} bytes)`,
    )
    assert.equal(receipt.sha256, sha)
    assert.equal(await sha256File(receipt.path), sha)
    assert.equal(receipt.size, size)
    const fromA = receipt.peers.find((p) => p.key.endsWith(`:${a.port}`))
    const fromB = receipt.peers.find((p) => p.key.endsWith(`:${b.port}`))
    assert.ok(fromB && fromB.bytes > 0, JSON.stringify(receipt.peers))
    assert.ok((fromA?.bytes ?? 0) + fromB.bytes >= size, 'every byte came from one of them')
    assert.ok(progress.at(-1)!.doneBytes === size)
  })

  it('the downloads directory removed while the download ran: E_IO saying so (was E_NOT_FOUND, exit 3); a second run places the file from the store, fetching nothing, SHA-256 equal', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'f.bin'), 1024 * 1024)
    const a = await seeder(t, join(dir, 'a'), join(dir, 'f.bin'), udp)
    const { store, peers } = await downloader(t, join(dir, 'd'), udp, a.id)
    const downloadsDir = join(dir, 'd', 'downloads')
    const gone = await download({
      id: a.id,
      store,
      downloadsDir,
      peers,
      // Every chunk in and checked; the .part not made yet: the directory goes now.
      nameDecided: () => rm(downloadsDir, { recursive: true }),
    }).then(
      () => undefined,
      (err: unknown) => err,
    )
    assert.ok(hasCode(gone, 'E_IO'), String(gone))
    assert.match((gone as Error).message, /the downloads directory .* went away while the download ran/)
    await mkdir(downloadsDir)
    const receipt = await download({ id: a.id, store, downloadsDir, peers })
    assert.equal(receipt.fetchedBytes, 0, 'nothing fetched again')
    assert.equal(await sha256File(receipt.path), sha)
  })

  it('bans a liar (random bytes for every chunk) while an honest server completes the download', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const size = 4 * 1024 * 1024
    const sha = await randomFile(join(dir, 'target.bin'), size)
    // The liar serves the true manifest (from a real split) and random bytes for every chunk.
    const store = await openStore({ dir: join(dir, 'honest', 'chunks') })
    const { id } = await splitFile(join(dir, 'target.bin'), { store, chunkSize: CHUNK })
    const liar = await startLiar(t, {
      udpPort: udp,
      storeDir: join(dir, 'honest'),
      name: 'target.bin',
      id,
      mode: 'random',
      transport: 'plain', // as this download and its library seeders
    })
    const d = await downloader(t, join(dir, 'd'), udp, id)
    let honest: Promise<Seeder> | undefined
    const receipt = await download({
      id,
      store: d.store,
      downloadsDir: join(dir, 'd', 'downloads'),
      peers: d.peers,
      // The honest server joins once the liar has had its three chances.
      onProgress: () => {
        if (honest === undefined && liar.requests() >= 3)
          honest = seeder(t, join(dir, 'honest2'), join(dir, 'target.bin'), udp)
      },
    })
    assert.ok(honest, 'the liar was asked three times first')
    assert.equal(receipt.sha256, sha)
    assert.equal(await sha256File(receipt.path), sha)
    const lied = receipt.peers.find((p) => p.key.endsWith(`:${liar.port}`))
    assert.match(lied?.banned ?? '', /failed SHA-256/, JSON.stringify(receipt.peers))
    assert.equal(lied?.bytes, 0)
  })

  it("stops on its AbortSignal with the signal's reason, and a second download resumes what the first stored", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const size = 6 * 1024 * 1024
    const sha = await randomFile(join(dir, 'x.bin'), size)
    const s = await seeder(t, join(dir, 's'), join(dir, 'x.bin'), udp)
    const d = await downloader(t, join(dir, 'd'), udp, s.id)
    const stop = new AbortController()
    const options = { id: s.id, store: d.store, downloadsDir: join(dir, 'd', 'downloads'), peers: d.peers }
    await assert.rejects(
      download({
        ...options,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.doneBytes > 0) stop.abort(new Error('enough'))
        },
      }),
      (err) => (err as Error).message === 'enough',
    )
    const receipt = await download(options)
    assert.equal(await sha256File(receipt.path), sha)
    assert.ok(receipt.resumedBytes > 0, 'the second run resumed the chunks the first verified')
  })

  it("never writes into the directory of a split of its name under way (E_LOCKED, the split's chunks untouched); two downloads of one name at once both complete", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const shas = await Promise.all(
      ['a', 'b'].map(async (side) => {
        await mkdir(join(dir, side))
        return randomFile(join(dir, side, 'x.bin'), 1024 * 1024 + 7)
      }),
    )
    const a = await seeder(t, join(dir, 'sa'), join(dir, 'a', 'x.bin'), udp)
    const b = await seeder(t, join(dir, 'sb'), join(dir, 'b', 'x.bin'), udp)
    const d = await downloader(t, join(dir, 'd'), udp, a.id)
    const e = await downloader(t, join(dir, 'd'), udp, b.id) // another download into the same store (of this process)
    // A split of another x.bin mid-way: its entry lock held, a chunk of its written, its manifest not yet placed.
    const entry = join(d.store.root, 'x.bin')
    await mkdir(entry)
    await writeFile(join(entry, '000000.chunk'), 'the split has written this')
    const key = createHash('sha256').update(collisionKey('x.bin')).digest('hex')
    const split = otherProcess(join(d.store.root, '.p2p', 'locks', `entry-${key}.lock`))
    onCleanup(t, () => split.done())
    assert.equal(await split.answer, 'held')
    const into = (id: string, on = d) => ({
      id,
      store: on.store,
      downloadsDir: join(dir, id.slice(0, 8)),
      peers: on.peers,
    })
    await assert.rejects(download({ ...into(a.id), limits: { waitMs: 1000 } }), (err) => hasCode(err, 'E_LOCKED'))
    assert.deepEqual(await readdir(entry), ['000000.chunk'], "the split's directory is as it left it")
    assert.equal(await readFile(join(entry, '000000.chunk'), 'utf8'), 'the split has written this')
    await split.done()
    const receipts = await Promise.all([download(into(a.id)), download(into(b.id, e))])
    assert.deepEqual(await Promise.all(receipts.map((r) => sha256File(r.path))), shas)
  })

  it('rejects with E_NOT_FOUND when nobody offers the id within limits.waitMs', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const d = await downloader(t, join(dir, 'd'), udp, 'ab'.repeat(32))
    await assert.rejects(
      download({
        id: 'ab'.repeat(32),
        store: d.store,
        downloadsDir: join(dir, 'd', 'downloads'),
        peers: d.peers,
        limits: { waitMs: 300 },
      }),
      (err) => hasCode(err, 'E_NOT_FOUND'),
    )
  })

  it('refuses nonsense limits with E_USAGE before any traffic (a window of 0 would never ask anyone)', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const d = await downloader(t, join(dir, 'd'), udp, 'cd'.repeat(32))
    const options = { id: 'cd'.repeat(32), store: d.store, downloadsDir: join(dir, 'd', 'downloads'), peers: d.peers }
    for (const limits of [{ window: 0 }, { requestTimeoutMs: Number.NaN }, { waitMs: -1 }]) {
      await assert.rejects(download({ ...options, limits }), (err) => hasCode(err, 'E_USAGE'), JSON.stringify(limits))
    }
    assert.throws(
      () => createChunkServer({ store: d.store, limits: { maxConnections: 0 } }),
      (err) => hasCode(err, 'E_USAGE'),
    )
  })
})
