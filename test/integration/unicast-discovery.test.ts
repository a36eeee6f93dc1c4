import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { encodeCookie, encodeQuery } from '../../src/core/discovery/announcement.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { ANSWER_BYTES_PER_S, ANSWER_BYTES_PER_SOURCE_PER_S, Announcer } from '../../src/core/discovery/announcer.js'
import { MAX_SILENT_REQUERIES } from '../../src/core/discovery/answering-peers.js'
import { KnownPeers } from '../../src/core/discovery/known-peers.js'
import { DiscoveryListener, type KnownFile } from '../../src/core/discovery/listener.js'
import { COOKIE_BYTES_PER_S, NOTICE_BYTES } from '../../src/core/discovery/query-answerer.js'
import { createPeerDirectory } from '../../src/core/download/peers.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { craftAnnouncement, startStranger } from '../helpers/stranger.js'
import { freeUdpPort } from '../helpers/swarm.js'

/** A stranger's peer id (any valid one). */
const PEER_B = 'strangerB'

/**
 * The unicast paths on loopback: queries sent straight to an announcer's
 * address (named and known peers) are answered under the same bound and
 * rate limits as broadcast ones, even when a listener bound the shared port
 * after the announcer; a listener's named peers are asked again before they
 * would go stale.
 */

async function storeWith(t: Parameters<typeof tmpDir>[0], files: number): Promise<ChunkStore> {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  for (let n = 0; n < files; n++) {
    const file = join(dir, `u-${n}.bin`)
    await randomFile(file, 100)
    await splitFile(file, { store, chunkSize: 4096 })
  }
  return store
}

/** An announcer of `store` on `udpPort` that binds the port on 127.0.0.1 (so a query sent there came to this host alone). */
async function unicastAnnouncer(
  t: Parameters<typeof tmpDir>[0],
  store: ChunkStore,
  udpPort: number,
): Promise<Announcer> {
  const a = new Announcer({
    store,
    udpPort,
    tcpPort: 5001,
    broadcast: [],
    unicastAddresses: ['127.0.0.1'],
    intervalMs: 60_000,
  })
  onCleanup(t, () => a.stop())
  await a.start()
  return a
}

describe('unicast discovery (real sockets on loopback)', () => {
  it('a unicast flood from 20 sources gets at most the per-source and total answer budgets, though a listener bound the port later', async (t) => {
    const store = await storeWith(t, 40)
    const udp = await freeUdpPort()
    const a = await unicastAnnouncer(t, store, udp)
    // Bound after the announcer, on the wildcard address: without the announcer's own 127.0.0.1 socket it would take the unicast queries.
    const l = new DiscoveryListener({ udpPort: udp, broadcast: [], staleAfterMs: 60_000 })
    onCleanup(t, () => l.stop())
    await l.start()
    const strangers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => startStranger(t, udp, `127.0.0.${10 + i}`)),
    )
    const started = performance.now()
    const query = encodeQuery()
    for (let round = 0; round < 25; round++) {
      await Promise.all(strangers.map((s) => s.send(query, '127.0.0.1')))
      await new Promise((r) => setTimeout(r, 10)) // within the socket's receive buffer: a dropped query proves nothing
    }
    for (let last = -1; ; ) {
      const now = strangers.reduce((n, s) => n + s.received.length, 0)
      if (now === last) break
      last = now
      await new Promise((r) => setTimeout(r, 300))
    }
    const seconds = (performance.now() - started) / 1000
    assert.ok(a.stats.queries >= 450, `the unicast queries reached the announcer (${a.stats.queries})`)
    assert.equal(l.stats.received, 0, 'none went to the listener bound later')
    // Answers within the answer budgets; cookie notices within theirs.
    const isNotice = (b: Buffer): boolean => decodeDatagram(b).type === 'cookie'
    const notices = strangers.reduce((n, s) => n + s.received.filter((r) => isNotice(r.bytes)).length, 0)
    assert.ok(notices * NOTICE_BYTES <= COOKIE_BYTES_PER_S * (1 + seconds))
    const bytes = strangers.map((s) => s.received.reduce((n, r) => n + (isNotice(r.bytes) ? 0 : r.bytes.length), 0))
    const total = bytes.reduce((n, b) => n + b, 0)
    assert.ok(total > 0, 'honest-looking queries are answered')
    for (const b of bytes) assert.ok(b <= 4 * ANSWER_BYTES_PER_SOURCE_PER_S + seconds * ANSWER_BYTES_PER_SOURCE_PER_S)
    assert.ok(total <= ANSWER_BYTES_PER_S * (1 + seconds), `${total} bytes in ${seconds.toFixed(2)} s`)
    assert.ok(a.stats.refused > 0)
    t.diagnostic(`500 unicast queries (${500 * 1200} bytes) → ${total} answer bytes in ${seconds.toFixed(2)} s`)
  })

  it('a listener asks its named peers again before they go stale, and records them as known peers', async (t) => {
    const store = await storeWith(t, 1)
    const seederPort = await freeUdpPort()
    const ourPort = await freeUdpPort()
    const a = await unicastAnnouncer(t, store, seederPort)
    const dir = await tmpDir(t)
    const known = new KnownPeers(join(dir, 'known_peers.json'), { saveDelayMs: 10 })
    await known.load()
    const l = new DiscoveryListener({
      udpPort: ourPort,
      broadcast: [],
      peers: [{ address: '127.0.0.1', port: seederPort, name: 'seeder' }],
      knownPeers: known,
      staleAfterMs: 1500,
    })
    onCleanup(t, () => l.stop())
    await l.start()
    l.query()
    const deadline = Date.now() + 3500
    let seenAfterStale = 0
    while (Date.now() < deadline) {
      if (l.files().length === 1 && Date.now() > deadline - 1500) seenAfterStale++
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(a.stats.queries >= 3, `asked again (${a.stats.queries} queries)`)
    assert.ok(seenAfterStale > 20, 'still listed well past --stale-after')
    assert.deepEqual(
      known.list().map((p) => [p.address, p.port]),
      [['127.0.0.1', seederPort]],
    )
  })

  it('a known-peers file pointing at a victim costs it one query a start, not one every few seconds, and the entry is gone after three silent starts', async (t) => {
    const dir = await tmpDir(t)
    const victim = await startStranger(t, 9, '127.0.0.7')
    const path = join(dir, 'known_peers.json')
    const entry = { address: '127.0.0.7', port: victim.port, lastSeen: new Date().toISOString() }
    await writeFile(path, JSON.stringify({ version: 1, peers: [entry] }))
    for (let start = 1; start <= 3; start++) {
      const known = new KnownPeers(path)
      await known.load()
      const l = new DiscoveryListener({
        udpPort: await freeUdpPort(),
        broadcast: [],
        knownPeers: known,
        staleAfterMs: 3000,
      })
      await l.start()
      l.query()
      await new Promise((r) => setTimeout(r, start === 1 ? 2500 : 100)) // the first run lasts past two re-query intervals
      await l.stop()
      assert.equal(victim.received.length, start, `queries the victim got after start ${start}`)
    }
    const after = new KnownPeers(path)
    assert.deepEqual(await after.load(), [])
  })

  it('a stranger cannot make a listener query an address: an announcement is not an answer, and one answer buys at most two more queries', async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, 'known_peers.json')
    const udpPort = await freeUdpPort()
    const victim = await startStranger(t, udpPort, '127.0.0.8')
    const announcement = craftAnnouncement('victim-0001', 5001, [
      { id: 'e'.repeat(64), name: 'v.bin', size: 10, chunks: 1 },
    ])
    const run = async (): Promise<DiscoveryListener> => {
      const known = new KnownPeers(path, { saveDelayMs: 10 })
      await known.load()
      const l = new DiscoveryListener({
        udpPort,
        broadcast: [],
        knownPeers: known,
        staleAfterMs: 60_000,
        requeryEveryMs: 40,
      })
      onCleanup(t, () => l.stop())
      await l.start()
      l.query()
      return l
    }
    const heard = (l: DiscoveryListener): Promise<void> =>
      new Promise((resolve) => (l.files().length > 0 ? resolve() : l.once('change', () => resolve())))
    // One datagram to the shared port, from the victim's address: heard, listed, never recorded.
    const first = await run()
    await victim.send(announcement, '127.0.0.1')
    await heard(first)
    await new Promise((r) => setTimeout(r, 400)) // ten requery intervals
    await first.stop()
    assert.equal(victim.received.length, 0, 'no query for an announcement')
    assert.deepEqual(await new KnownPeers(path).load(), [], 'an announcement does not make a known peer')
    // The worst case: the file names the victim, which announces to the shared port and answers one query.
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        peers: [{ address: '127.0.0.8', port: victim.port, lastSeen: new Date().toISOString() }],
      }),
    )
    victim.socket.once('message', (_bytes, from) => victim.socket.send(announcement, from.port, from.address))
    const second = await run()
    await victim.send(announcement, '127.0.0.1')
    await new Promise((r) => setTimeout(r, 2000)) // fifty requery intervals
    const count = victim.received.length
    await new Promise((r) => setTimeout(r, 400))
    await second.stop()
    assert.ok(count >= 2, `the answer is requeried (${count})`)
    assert.ok(count <= 1 + MAX_SILENT_REQUERIES, `at most ${1 + MAX_SILENT_REQUERIES} queries, got ${count}`)
    assert.equal(victim.received.length, count, 'then none')
  })

  it('a forged answer to the query socket from an address never queried is listed, but never recorded as a known peer', async (t) => {
    const dir = await tmpDir(t)
    const known = new KnownPeers(join(dir, 'known_peers.json'), { saveDelayMs: 10 })
    await known.load()
    const l = new DiscoveryListener({
      udpPort: await freeUdpPort(),
      broadcast: [],
      knownPeers: known,
      staleAfterMs: 60_000,
    })
    onCleanup(t, () => l.stop())
    await l.start()
    l.query()
    // The query port is in every broadcast query the LAN hears; a stranger answers there from any address it likes.
    const queryPort = (l as unknown as { querySocket: { ports(): { 4?: number } } }).querySocket.ports()[4]!
    const stranger = await startStranger(t, queryPort, '127.0.0.9')
    const forged = craftAnnouncement('forger-0001', 5001, [{ id: 'f'.repeat(64), name: 'f.bin', size: 10, chunks: 1 }])
    for (let i = 0; i < 5; i++) await stranger.send(forged, '127.0.0.1')
    const deadline = Date.now() + 3000
    while (l.files().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(l.files().length, 1, 'merged as any announcement is')
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(known.list(), [], 'not a known peer')
  })

  it('a named peer’s answer, saying back our nonce, stays among a download’s peers under a flood forging its address', async (t) => {
    const store = await storeWith(t, 1)
    const seederPort = await freeUdpPort()
    const ourPort = await freeUdpPort()
    await unicastAnnouncer(t, store, seederPort)
    const directory = createPeerDirectory({
      udpPort: ourPort,
      broadcast: [],
      peers: [{ address: '127.0.0.1', port: seederPort, name: 'seeder' }],
      staleAfterMs: 15_000,
    })
    onCleanup(t, () => directory.stop())
    await directory.start()
    let file: KnownFile | undefined
    for (let i = 0; i < 150 && !file; i++) {
      file = directory.files()[0]
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(file, 'the named peer answered')
    const { id, name, size, chunks } = file
    // A stranger with the seeder's address: a fresh port in every datagram (16 peers an address: the seeder's
    // claim in the dictionary is pushed out), and the seeder's own port claiming another name. Bounded: 40 ticks.
    const stranger = await startStranger(t, ourPort, '127.0.0.1')
    let port = 20_000
    const seederClaim = (f: KnownFile | undefined) => f?.peers.find((p) => p.port === 5001)
    let looks = 0
    let seen = 0
    for (let tick = 0; tick < 40; tick++) {
      for (let i = 0; i < 20; i++) await stranger.send(craftAnnouncement(PEER_B, port++, [{ id, name, size, chunks }]))
      await stranger.send(craftAnnouncement(PEER_B, 5001, [{ id, name: 'evil.bin', size, chunks }]))
      await new Promise((r) => setTimeout(r, 10))
      looks++
      const claim = seederClaim(directory.files().find((f) => f.id === id))
      if (claim?.name === name && directory.peers(id).some((p) => p.port === 5001)) seen++
    }
    assert.equal(seen, looks, `the seeder's own claim in ${seen} of ${looks} looks`)
  })

  it('a flood of queries from forged sources does not keep a named peer from its answer: withheld, a cookie, asked again with it at once', async (t) => {
    const store = await storeWith(t, 30)
    const seederPort = await freeUdpPort()
    const a = await unicastAnnouncer(t, store, seederPort)
    // Sixty sources (on loopback each is an address of its own, as forged ones would be) every 100 ms, far past the
    // total for queries without a cookie (64 KiB/s), and one forging the named peer's own address every 10 ms, which
    // keeps that address's share spent (its query just before the peer's makes the refusal certain).
    const strangers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => startStranger(t, seederPort, `127.0.1.${10 + i}`)),
    )
    const forger = await startStranger(t, seederPort, '127.0.0.1')
    const floods = [
      setInterval(() => {
        for (const s of strangers) void s.send(encodeQuery(), '127.0.0.1')
      }, 100),
      setInterval(() => void forger.send(encodeQuery(), '127.0.0.1'), 10),
    ]
    const stopFlood = (): void => {
      for (const flood of floods) clearInterval(flood)
    }
    onCleanup(t, stopFlood)
    await new Promise((r) => setTimeout(r, 800))
    assert.ok(a.stats.refused > 0, 'the flood spent the budget')
    const l = new DiscoveryListener({
      udpPort: await freeUdpPort(),
      broadcast: [],
      peers: [{ address: '127.0.0.1', port: seederPort, name: 'seeder' }],
      staleAfterMs: 60_000,
    })
    onCleanup(t, () => l.stop())
    await l.start()
    await forger.send(encodeQuery(), '127.0.0.1')
    const started = performance.now()
    l.query()
    while (l.files().length === 0 && performance.now() - started < 5000) await new Promise((r) => setTimeout(r, 20))
    const took = performance.now() - started
    stopFlood()
    assert.ok(l.files().length > 0, `the named peer answered within ${took.toFixed(0)} ms`)
    assert.ok(a.stats.proven >= 1, 'a query with its cookie')
    assert.ok(a.stats.cookies >= 1)
    t.diagnostic(
      `flood: ${a.stats.queries} queries, ${a.stats.refused} refused, ${a.stats.cookies} cookie notices; the named peer's answer in ${took.toFixed(0)} ms`,
    )
  })

  it('a cookie notice from an address never queried makes no query, and is counted', async (t) => {
    const l = new DiscoveryListener({ udpPort: await freeUdpPort(), broadcast: [], staleAfterMs: 60_000 })
    onCleanup(t, () => l.stop())
    await l.start()
    l.query()
    const queryPort = (l as unknown as { querySocket: { ports(): { 4?: number } } }).querySocket.ports()[4]!
    const stranger = await startStranger(t, queryPort, '127.0.0.9')
    for (let i = 0; i < 5; i++) await stranger.send(encodeCookie('ab'.repeat(16), false), '127.0.0.1')
    const deadline = Date.now() + 2000
    while ((l.stats.droppedByReason.unasked ?? 0) < 5 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20))
    assert.equal(l.stats.droppedByReason.unasked, 5)
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(stranger.received.length, 0, 'nothing sent to it')
  })
})
