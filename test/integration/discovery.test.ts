import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { Bitfield } from '../../src/core/bitfield.js'
import { DiscoveryListener, type KnownFile } from '../../src/core/discovery/listener.js'
import { packedDataPath, writePackedHave } from '../../src/core/packed.js'
import { splitFile } from '../../src/core/split.js'
import { chunkFileName } from '../../src/core/store.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { announcer, storeWith } from '../helpers/discovery-store.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

function listener(t: Cleanup, udpPort: number, staleAfterMs = 60_000, limits = {}): DiscoveryListener {
  const l = new DiscoveryListener({ udpPort, broadcast: [BROADCAST], staleAfterMs, limits })
  onCleanup(t, () => l.stop())
  return l
}

/** Wait (bounded) until `check` holds on the listener's view. */
async function until(l: DiscoveryListener, check: (files: KnownFile[]) => boolean, ms = 5000): Promise<KnownFile[]> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (check(l.files())) return l.files()
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.fail(`condition not met within ${ms} ms: ${JSON.stringify(l.files().map((f) => [f.name, f.peers.length]))}`)
}

describe('discovery on loopback broadcast', () => {
  it('one listener sees two announcers with their have-sets; a query brings answers without waiting for the interval', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [['one.bin', 10_000]])
    const b = await storeWith(join(dir, 'b'), [['two.bin', 20_000]])
    await unlink(a.store.chunkPath(a.store.entryDir('one.bin'), 1))
    await announcer(t, a.store, udp, 5001).start()
    await announcer(t, b.store, udp, 5002).start()
    // Started after the announcers' first burst, with their interval at 60 s: only the query can bring them.
    const l = listener(t, udp)
    await l.start()
    l.query()
    const files = await until(l, (f) => f.length === 2)
    const one = files.find((f) => f.name === 'one.bin')!
    assert.equal(one.peers[0]!.port, 5001)
    assert.equal(one.peers[0]!.address, '127.0.0.1')
    assert.deepEqual(one.peers[0]!.have.indices(), [0, 2])
    assert.equal(files.find((f) => f.name === 'two.bin')!.peers[0]!.have.count(), 5)
  })

  it('two listeners on one port both receive every announcement', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [['x', 100]])
    const l1 = listener(t, udp)
    const l2 = listener(t, udp)
    await l1.start()
    await l2.start()
    await announcer(t, a.store, udp, 5001).start()
    await until(l1, (f) => f.length === 1)
    await until(l2, (f) => f.length === 1)
  })

  it('expires a silent peer after staleAfter, and forgets one that says goodbye at once', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [['a', 100]])
    const b = await storeWith(join(dir, 'b'), [['b', 100]])
    // The listener's clock is the test's to move: staleness comes from it, not from how fast this machine is.
    let skew = 0
    const l = new DiscoveryListener({
      udpPort: udp,
      broadcast: [BROADCAST],
      staleAfterMs: 10_000,
      now: () => performance.now() + skew,
    })
    onCleanup(t, () => l.stop())
    await l.start()
    const silent = announcer(t, a.store, udp, 5001)
    const polite = announcer(t, b.store, udp, 5002, 100)
    await silent.start()
    await polite.start()
    await until(l, (f) => f.length === 2)
    await silent.stop() // gone without a goodbye, as a crashed peer
    skew += 10_001 // 'a' is now stale; 'b' announces again within 100 ms
    await until(l, (f) => f.length === 1 && f[0]!.name === 'b', 10_000)
    await polite.stop({ goodbye: true })
    await until(l, (f) => f.length === 0, 5000) // at once: without the goodbye 'b' would stay for 10 s
  })

  it('announces soon after the store changes (a new split), not at the next interval', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [['first', 100]])
    const l = listener(t, udp)
    await l.start()
    await announcer(t, a.store, udp, 5001).start()
    await until(l, (f) => f.length === 1)
    await randomFile(join(dir, 'second'), 5000)
    await splitFile(join(dir, 'second'), { store: a.store, chunkSize: 4096 })
    await until(l, (f) => f.length === 2, 4000)
  })

  it('leaves a withheld item out of its bursts and answers until its last hold is released, then announces it soon', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [
      ['kept.bin', 5000],
      ['held.bin', 6000],
    ])
    const held = a.ids[1]!
    const ann = announcer(t, a.store, udp, 5001, 200) // bursts every 200 ms: the hold must outlast several
    const first = ann.withhold(held)
    const second = ann.withhold(held)
    const l = listener(t, udp)
    await l.start()
    await ann.start()
    await until(l, (f) => f.length === 1)
    l.query() // answers come from the bursts' view: the held item is not in them either
    await new Promise((r) => setTimeout(r, 700))
    assert.deepEqual(
      l.files().map((f) => f.name),
      ['kept.bin'],
    )
    first()
    first() // a release counts once: the second hold still stands
    await new Promise((r) => setTimeout(r, 500))
    assert.deepEqual(
      l.files().map((f) => f.name),
      ['kept.bin'],
    )
    second()
    await until(l, (f) => f.length === 2, 4000)
  })

  it("announces a download's progress (data.have) soon, and not each write into its data", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [['part.bin', 3 * 4096]])
    const entry = a.store.entryDir('part.bin')
    for (const i of [1, 2]) await unlink(a.store.chunkPath(entry, i))
    const l = listener(t, udp)
    await l.start()
    const ann = announcer(t, a.store, udp, 5001, 60_000, { minBurstGapMs: 50 })
    let bursts = 0
    ann.onBurst = () => bursts++
    await ann.start()
    await until(l, (f) => f[0]?.peers[0]?.have.count() === 1)
    // A download writing into data: many writes, no burst (the interval is 60 s).
    const data = await open(packedDataPath(entry), 'w')
    for (let i = 0; i < 50; i++) await data.write(Buffer.alloc(4096, i), 0, 4096, (i % 3) * 4096)
    await data.close()
    await new Promise((r) => setTimeout(r, 400)) // 8 × the change delay
    assert.equal(bursts, 1, 'writes into data caused a burst')
    // Its data.have now lists chunk 1: announced soon.
    const have = new Bitfield(3)
    have.set(1)
    await writePackedHave(entry, have)
    await until(l, (f) => f[0]?.peers[0]?.have.count() === 2, 4000)
  })

  it('a burst listener that throws is logged as such, and the announcements still go out', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const a = await storeWith(join(dir, 'a'), [['one.bin', 4096]])
    const lines: string[] = []
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) })
    const ann = announcer(t, a.store, udp, 5001, 60_000, { log })
    let bursts = 0
    ann.onBurst = () => {
      bursts++
      throw new Error('listener broke')
    }
    const l = listener(t, udp)
    await l.start()
    await ann.start()
    await until(l, (f) => f.length === 1)
    ann.schedule('store changed')
    const deadline = Date.now() + 4000
    while (bursts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.ok(bursts >= 2, `${bursts} burst(s): the announcer stopped after its listener threw`)
    const messages = lines.map((line) => JSON.parse(line) as { msg: string; err?: string })
    assert.ok(
      messages.length >= 1 &&
        messages.every((m) => m.msg === 'the announcement listener failed' && m.err === 'listener broke'),
      lines.join(''),
    )
  })

  it('drops hostile datagrams, counting them, while good announcements still get through', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const good = await storeWith(join(dir, 'good'), [['good.bin', 9000]])
    const l = listener(t, udp, 60_000, { maxPeers: 100, maxFiles: 100 })
    await l.start()
    const sender = createSocket({ type: 'udp4', reuseAddr: true })
    onCleanup(t, () => new Promise<void>((r) => sender.close(() => r())))
    await new Promise<void>((r) => sender.bind(0, () => r()))
    sender.setBroadcast(true)
    const send = (payload: string | Buffer) => new Promise<void>((r) => sender.send(payload, udp, BROADCAST, () => r()))
    const base = { v: 1, type: 'announce', peer: 'f00df00df00df00d', port: 4000 }
    const entry = { id: 'a'.repeat(64), name: 'x', size: 1, chunks: 1, have: 'all' }
    const hostile: Array<string | Buffer> = [
      'not json at all',
      Buffer.alloc(60_000, 0x7b),
      '{"v":1,"type":"announce"}',
      JSON.stringify({ ...base, port: 0, files: [entry] }),
      JSON.stringify({ ...base, port: 70000, files: [entry] }),
      JSON.stringify({ ...base, files: [{ ...entry, name: '../../etc/passwd' }] }),
      JSON.stringify({ ...base, files: [{ ...entry, id: 'nothex' }] }),
      JSON.stringify({ ...base, files: [{ ...entry, size: 'big' }] }),
      Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
    ]
    for (const h of hostile) await send(h)
    await announcer(t, good.store, udp, 5001).start()
    // 10,000 fake peers (valid datagrams, bounded loop), each claiming a file.
    for (let i = 0; i < 10_000; i++) {
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1)) // let the listener (same process) drain its socket
      await send(
        JSON.stringify({
          ...base,
          peer: `fake${String(i).padStart(8, '0')}`,
          port: 1 + i,
          files: [{ ...entry, id: (i % 300).toString(16).padStart(64, '0') }],
        }),
      )
    }
    // The kernel may drop some of the flood (socket buffer): wait until it has passed.
    for (let last = -1, i = 0; i < 100 && l.stats.received !== last; i++) {
      last = l.stats.received
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.ok(l.stats.received > 5000, `${l.stats.received} received`)
    assert.ok(l.dictionary.peerCount <= 100, `${l.dictionary.peerCount} peers`)
    assert.ok(l.dictionary.fileCount <= 100, `${l.dictionary.fileCount} files`)
    assert.ok(l.stats.dropped >= hostile.length - 1, JSON.stringify(l.stats))
    assert.ok((l.stats.droppedByReason['too-large'] ?? 0) >= 1)
    assert.ok((l.stats.droppedByReason['not-json'] ?? 0) >= 2)
    // The good announcer is still heard after the flood (a query makes it answer now).
    l.query()
    await until(l, (f) => f.some((x) => x.name === 'good.bin'), 5000)
    assert.ok(!l.files().some((f) => f.name.includes('..')))
    assert.equal(chunkFileName(0), '000000.chunk')
  })
})
