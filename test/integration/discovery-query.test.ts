import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeQuery, type MoreNotice } from '../../src/core/discovery/announcement.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { ANSWER_BYTES_PER_SOURCE_PER_S, Announcer } from '../../src/core/discovery/announcer.js'
import type { AnnouncerOptions } from '../../src/core/discovery/announcer-options.js'
import { DiscoveryListener, type KnownFile } from '../../src/core/discovery/listener.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { DatagramGuard } from '../../src/core/trust/datagram-guard.js'
import { deriveSwarmKeys } from '../../src/core/trust/swarm-secret.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { type Stranger, startStranger } from '../helpers/stranger.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

/**
 * Finding 10 of issue 14 (FAULTS 42): a query is answered by unicast with at
 * most three times its own bytes, within a byte rate per source; the rest
 * comes with the periodic broadcasts, and a query for a name or id gets
 * exactly that file at once.
 */

/** A real store of `count` small files, file-0000.bin … (built once for the suite). */
async function storeOf(t: Cleanup, count: number): Promise<ChunkStore> {
  const dir = await tmpDir(t)
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  for (let n = 0; n < count; n++) {
    const file = join(dir, `file-${String(n).padStart(4, '0')}.bin`)
    await randomFile(file, 100)
    await splitFile(file, { store, chunkSize: 4096 })
  }
  return store
}

let store: ChunkStore

async function announcer(
  t: Cleanup,
  udp: number,
  files: number,
  intervalMs: number,
  extra: Partial<AnnouncerOptions> = {},
): Promise<Announcer> {
  assert.equal((await store.scan()).length, files)
  // Its port bound on 127.0.0.1 too, as on each of a host's addresses: a query sent there came to this host alone.
  const a = new Announcer({
    store,
    udpPort: udp,
    tcpPort: 5001,
    broadcast: [BROADCAST],
    intervalMs,
    unicastAddresses: ['127.0.0.1'],
    ...extra,
  })
  onCleanup(t, () => a.stop())
  await a.start()
  return a
}

/** Wait (bounded) until `check` holds, polling every 20 ms. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Everything that reached the stranger, once nothing more has come for 300 ms. */
async function settled(s: Stranger): Promise<Buffer[]> {
  for (let last = -1; last !== s.received.length; ) {
    last = s.received.length
    await new Promise((r) => setTimeout(r, 300))
  }
  return s.received.map((r) => r.bytes)
}

const bytesOf = (datagrams: Buffer[]): number => datagrams.reduce((sum, d) => sum + d.length, 0)

describe('queries cannot amplify (real sockets on loopback)', () => {
  // Built once; removed when the suite ends (after() called inside before() would run at once).
  const removals: Array<() => void | Promise<void>> = []
  before(async () => {
    store = await storeOf({ after: (fn) => removals.push(fn) }, 300)
  })
  after(async () => {
    for (const remove of removals) await remove()
  })

  it('an old 22-byte query to an announcer of 300 files gets at most 66 bytes back: a "more" notice', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000)
    const s = await startStranger(t, udp)
    await s.send('{"v":1,"type":"query"}', '127.0.0.1')
    await until(() => a.stats.queries === 1, 'the query')
    const answer = await settled(s)
    assert.ok(bytesOf(answer) <= 3 * 22, `${bytesOf(answer)} bytes`)
    assert.deepEqual(
      answer.map((d) => decodeDatagram(d)),
      [{ type: 'more', omitted: 300, interval: 60 }],
    )
  })

  it('a padded query gets at most three times its 1,200 bytes, by unicast: as many files as fit and a notice for the rest', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000)
    const s = await startStranger(t, udp)
    await s.send(encodeQuery(), '127.0.0.1')
    await until(() => a.stats.queries === 1, 'the query')
    const answer = await settled(s)
    assert.ok(bytesOf(answer) <= 3 * 1200, `${bytesOf(answer)} bytes`)
    const messages = answer.map((d) => decodeDatagram(d))
    const files = messages.flatMap((m) => (m.type === 'announce' ? m.files : []))
    const more = messages.find((m): m is MoreNotice => m.type === 'more')
    assert.ok(files.length >= 10, `${files.length} files in the answer`)
    assert.equal(files.length + more!.omitted, 300)
  })

  it('in a private swarm, a sealed query gets at most three times its bytes as sent, the seals counted', async (t) => {
    const udp = await freeUdpPort()
    const guard = new DatagramGuard(deriveSwarmKeys(randomBytes(32)).datagramKey, 15_000)
    assert.equal((await store.scan()).length, 300)
    // 700-byte datagrams: counted before sealing, this answer was four datagrams, 2,108 bytes for a 700-byte query.
    const size = 700
    const a = new Announcer({
      store,
      udpPort: udp,
      tcpPort: 5001,
      broadcast: [BROADCAST],
      intervalMs: 60_000,
      guard,
      maxDatagramBytes: size,
    })
    onCleanup(t, () => a.stop())
    await a.start()
    const s = await startStranger(t, udp)
    const query = guard.seal(encodeQuery({}, size - guard.overhead)) // padded to the datagram size, as a listener pads it
    await s.send(query, '127.0.0.1')
    await until(() => a.stats.queries === 1, 'the query')
    const answer = await settled(s)
    assert.ok(answer.length >= 3, `${answer.length} datagrams`)
    // Each padded to the largest payload before it is sealed: one size, which says nothing of what it holds.
    assert.deepEqual(new Set(answer.map((d) => d.length)), new Set([size]))
    assert.ok(bytesOf(answer) <= 3 * query.length, `${bytesOf(answer)} bytes answer a ${query.length}-byte query`)
  })

  it('a query for a name gets that file at once, wherever it is in a store of 300', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000)
    const s = await startStranger(t, udp)
    await s.send(encodeQuery({ name: 'file-0250.bin' }), '127.0.0.1')
    await until(() => a.stats.answers === 1, 'the answer')
    const answer = await settled(s)
    assert.deepEqual(
      answer.map((d) => decodeDatagram(d)).map((m) => (m.type === 'announce' ? m.files.map((f) => f.name) : m.type)),
      [['file-0250.bin'], 'cookie'],
      'the file, and a cookie for the next query (answer-cookies.ts)',
    )
  })

  it('a flood of queries from one source is answered within the byte rate per source', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000)
    const s = await startStranger(t, udp)
    const started = performance.now()
    const query = encodeQuery()
    for (let i = 0; i < 500; i++) {
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 2)) // let the announcer (same process) read its socket
      await s.send(query, '127.0.0.1')
    }
    await until(() => a.stats.queries >= 400, `the flood (${a.stats.queries} queries arrived)`)
    const all = await settled(s)
    const seconds = (performance.now() - started) / 1000
    // A refused query gets a cookie notice (a sixteenth of its bytes: no amplification); the answers keep the rate.
    const notices = all.filter((d) => decodeDatagram(d).type === 'cookie' && JSON.parse(String(d)).answered === false)
    assert.ok(notices.length <= a.stats.refused)
    const answer = all.filter((d) => !notices.includes(d))
    const bound = 4 * ANSWER_BYTES_PER_SOURCE_PER_S + seconds * ANSWER_BYTES_PER_SOURCE_PER_S
    assert.ok(bytesOf(answer) <= bound, `${bytesOf(answer)} bytes answered in ${seconds.toFixed(2)} s; bound ${bound}`)
    assert.ok(a.stats.refused > 300, JSON.stringify(a.stats))
    t.diagnostic(
      `${a.stats.queries} queries (${a.stats.queries * 1200} bytes) → ${bytesOf(answer)} bytes in ${seconds.toFixed(2)} s`,
    )
  })

  it('a query that arrives while the first scan of the store is under way is answered from it (a listener and seeders starting together)', async (t) => {
    const udp = await freeUdpPort()
    const a = new Announcer({ store, udpPort: udp, tcpPort: 5001, broadcast: [BROADCAST], intervalMs: 60_000 })
    onCleanup(t, () => a.stop())
    const s = await startStranger(t, udp)
    let started = false
    const starting = a.start().then(() => {
      started = true
    })
    while (a.stats.queries === 0) {
      await s.send(encodeQuery({ name: 'file-0001.bin' }), '127.0.0.1')
      await new Promise((r) => setTimeout(r, 2))
    }
    const early = !started
    await starting
    await until(() => a.stats.answers > 0, 'an answer')
    assert.ok(early, 'the first query came before the first scan was done (else this test proves nothing)')
  })

  it('a query sent to this host from a forged source of port 0, a broadcast address or 0.0.0.0 is dropped, counted; honest ones are answered', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000)
    // The kernel hands over whatever source a forged packet carries; raw sockets are not to be had here, so deliver them as it would.
    const sockets = (a as unknown as { socket: { unicast: Map<string, import('node:dgram').Socket> } }).socket
    const socket = sockets.unicast.get('127.0.0.1')!
    for (const [address, port] of [
      ['127.0.0.3', 0],
      ['127.255.255.255', udp],
      ['0.0.0.0', 9],
      ['224.0.0.1', 9],
    ] as const) {
      socket.emit('message', encodeQuery(), { address, port, family: 'IPv4', size: 1200 })
    }
    const s = await startStranger(t, udp)
    await s.send(encodeQuery({ name: 'file-0001.bin' }), '127.0.0.1')
    await until(() => s.received.length > 0, 'an answer to the honest query')
    assert.equal(a.stats.badSource, 3, JSON.stringify(a.stats)) // port 0 is not answered, nor counted as a bad source
    assert.equal(a.stats.answers, 1)
  })

  it('while the port is not bound on every host address (one refused the bind), a query on the wildcard socket is still answered where the bursts go (failing closed)', async (t) => {
    const udp = await freeUdpPort()
    // 192.0.2.1 (TEST-NET-1) is no address of this host: its bind fails, as a tentative IPv6 address's does during DAD.
    const a = await announcer(t, udp, 300, 60_000, { unicastAddresses: ['127.0.0.1', '192.0.2.1'] })
    const s = await startStranger(t, udp)
    await s.send(encodeQuery({ name: 'file-0003.bin' }), '127.0.0.3') // unicast, to an address with no socket of its own
    await until(() => a.stats.answers === 1, 'the answer')
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(s.received.length, 0, 'nothing to the (forgeable) source')
  })

  it('with its IPv4 socket bound to a given address (bindAddress), a broadcast query is still no query to the host', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000, { bindAddress: '0.0.0.0' })
    const s = await startStranger(t, udp)
    await s.send(encodeQuery({ name: 'file-0005.bin' }))
    await until(() => a.stats.answers === 1, 'the answer')
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(s.received.length, 0, 'nothing to the source')
  })

  it('a query by broadcast is answered where the bursts go, on the discovery port, never to its (forgeable) source', async (t) => {
    const udp = await freeUdpPort()
    const a = await announcer(t, udp, 300, 60_000)
    const heard: Buffer[] = []
    const port = createSocket({ type: 'udp4', reuseAddr: true }) // a listener's socket on the discovery port
    port.on('message', (bytes) => heard.push(bytes))
    port.bind(udp, '0.0.0.0')
    await once(port, 'listening')
    onCleanup(t, () => new Promise<void>((resolve) => port.close(() => resolve())))
    const s = await startStranger(t, udp)
    await s.send(encodeQuery({ name: 'file-0007.bin' })) // to 127.255.255.255, as a listener asks
    await until(() => a.stats.answers === 1, 'the answer')
    await until(() => heard.some((d) => d.includes('file-0007.bin')), 'the answer on the discovery port')
    assert.equal(s.received.length, 0, 'nothing to the source')
  })

  it('a listener still learns all 300 files (the periodic broadcast brings what the answer left out), and a listener asking for one name finds it within a second', async (t) => {
    const udp = await freeUdpPort()
    await announcer(t, udp, 300, 1000)
    const listen = (want?: { name: string }): DiscoveryListener => {
      const l = new DiscoveryListener({
        udpPort: udp,
        broadcast: [BROADCAST],
        staleAfterMs: 60_000,
        ...(want ? { want } : {}),
      })
      onCleanup(t, () => l.stop())
      return l
    }
    const everything = listen()
    const one = listen({ name: 'file-0299.bin' })
    await everything.start()
    await one.start()
    const asked = performance.now()
    everything.query()
    one.query()
    const has = (l: DiscoveryListener, check: (files: KnownFile[]) => boolean): boolean => check(l.files())
    await until(() => has(one, (f) => f.some((x) => x.name === 'file-0299.bin')), 'the wanted file', 1500)
    t.diagnostic(`wanted name found ${Math.round(performance.now() - asked)} ms after the query`)
    await until(() => has(everything, (f) => f.length === 300), 'all 300 files', 5000)
  })
})
