import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement-encode.js'
import { KnownPeers } from '../../src/core/discovery/known-peers.js'
import { createListener } from '../../src/core/discovery/listener.js'
import { DatagramGuard } from '../../src/core/trust/datagram-guard.js'
import { RecordSealer, sealedLength } from '../../src/core/trust/records.js'
import { deriveSwarmKeys } from '../../src/core/trust/swarm-secret.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'
import { freeUdpPort } from '../helpers/swarm.js'

/** A private swarm's listener on real UDP sockets: what it admits, what it drops and why. */
describe('sealed discovery (private swarm)', () => {
  it("admits a sealed announcement once; drops its replay, a flipped bit, another swarm's and a plain one, each counted", async (t) => {
    const udpPort = await freeUdpPort()
    const keys = deriveSwarmKeys(randomBytes(32))
    const listener = createListener({
      udpPort,
      bindAddress: '127.0.0.1',
      broadcast: ['127.0.0.1'],
      staleAfterMs: 15_000,
      guard: new DatagramGuard(keys.datagramKey, 15_000),
    })
    await listener.start()
    onCleanup(t, () => listener.stop())
    const sender = createSocket('udp4')
    onCleanup(t, () => new Promise<void>((resolve) => sender.close(() => resolve())))
    const [plain] = encodeAnnouncements('PEERIDPEERID', 4000, [
      { id: 'a'.repeat(64), name: 'secret-name.bin', size: 10, have: Bitfield.full(1) },
    ])
    const sealed = new DatagramGuard(keys.datagramKey, 15_000).seal(plain!)
    const flipped = Buffer.from(sealed)
    flipped[60]! ^= 1
    const foreign = new DatagramGuard(deriveSwarmKeys(randomBytes(32)).datagramKey, 15_000).seal(plain!)
    const send = async (bytes: Buffer): Promise<void> => {
      const received = listener.stats.received
      sender.send(bytes, udpPort, '127.0.0.1')
      while (listener.stats.received === received) await new Promise((r) => setTimeout(r, 5))
    }
    await send(sealed)
    assert.deepEqual(
      listener.files().map((f) => f.name),
      ['secret-name.bin'],
    )
    for (const bytes of [sealed, flipped, foreign, plain!]) await send(bytes)
    assert.deepEqual(listener.stats.droppedByReason, { replay: 1, auth: 2, plain: 1 })
    assert.equal(listener.files().length, 1)
    assert.ok(!sealed.includes('secret-name'), 'the name travels sealed')
  })

  it("a member's announcement replayed by a stranger to a listener's query port, from an address of its choosing, is no answer: dropped, not remembered (third attacker pass)", async (t) => {
    const udpPort = await freeUdpPort()
    const keys = deriveSwarmKeys(randomBytes(32))
    const queries: Array<{ port: number; nonce: Buffer }> = []
    // The stranger hears the listener's sealed query (its source port is in plain sight) and replays there.
    const ear = createSocket({ type: 'udp4', reuseAddr: true })
    ear.bind(udpPort, '0.0.0.0')
    await once(ear, 'listening')
    onCleanup(t, () => new Promise<void>((resolve) => ear.close(() => resolve())))
    ear.on('message', (m, from) => queries.push({ port: from.port, nonce: m.subarray(4, 28) }))
    const known = new KnownPeers(join(await tmpDir(t), 'known_peers.json'))
    const heard = (): string[] => known.list().map((p) => p.address)
    const listener = createListener({
      udpPort,
      bindAddress: '127.0.0.1',
      broadcast: ['127.255.255.255'],
      staleAfterMs: 15_000,
      guard: new DatagramGuard(keys.datagramKey, 15_000),
      knownPeers: known,
    })
    await listener.start()
    onCleanup(t, () => listener.stop())
    listener.query()
    const deadline = Date.now() + 10_000
    while (queries.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    assert.ok(queries.length > 0, 'the query was heard')
    const member = new DatagramGuard(keys.datagramKey, 15_000)
    const [plain] = encodeAnnouncements('PEERIDPEERID', 4000, [
      { id: 'c'.repeat(64), name: 'member.bin', size: 10, have: Bitfield.full(1) },
    ])
    const stranger = createSocket('udp4')
    stranger.bind(0, '127.0.0.66')
    await once(stranger, 'listening')
    onCleanup(t, () => new Promise<void>((resolve) => stranger.close(() => resolve())))
    const send = async (bytes: Buffer): Promise<void> => {
      const received = listener.stats.received
      stranger.send(bytes, queries[0]!.port, '127.0.0.1')
      const until = Date.now() + 10_000
      while (listener.stats.received === received && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
      assert.ok(listener.stats.received > received, 'the datagram arrived')
    }
    await send(member.seal(plain!)) // captured from the member's broadcast, never seen by this process
    assert.deepEqual(listener.stats.droppedByReason, { unbound: 1 })
    assert.deepEqual(heard(), [])
    assert.equal(listener.files().length, 0)
    await send(member.seal(plain!, queries[0]!.nonce)) // the control: a member's answer to that query
    assert.deepEqual(heard(), ['127.0.0.66'], 'an answer to our query is remembered (the check above can fail)')
    assert.deepEqual(
      listener.files().map((f) => f.name),
      ['member.bin'],
    )
  })

  it("a member's announcement sent before a listener started, replayed to its discovery port by a stranger: dropped as a replay (its record could not hold it), a fresh one taken", async (t) => {
    const udpPort = await freeUdpPort()
    const keys = deriveSwarmKeys(randomBytes(32))
    const member = new DatagramGuard(keys.datagramKey, 15_000)
    const [plain] = encodeAnnouncements('PEERIDPEERID', 4000, [
      { id: 'c'.repeat(64), name: 'member.bin', size: 10, have: Bitfield.full(1) },
    ])
    const captured = member.seal(plain!) // heard on the LAN before the listener's process began
    await new Promise((r) => setTimeout(r, 20))
    const listener = createListener({
      udpPort,
      bindAddress: '127.0.0.1',
      broadcast: ['127.255.255.255'],
      staleAfterMs: 15_000,
      guard: new DatagramGuard(keys.datagramKey, 15_000),
    })
    await listener.start()
    onCleanup(t, () => listener.stop())
    const stranger = createSocket('udp4')
    stranger.bind(0, '127.0.0.66')
    await once(stranger, 'listening')
    onCleanup(t, () => new Promise<void>((resolve) => stranger.close(() => resolve())))
    const send = async (bytes: Buffer): Promise<void> => {
      const received = listener.stats.received
      stranger.send(bytes, udpPort, '127.0.0.1')
      const until = Date.now() + 10_000
      while (listener.stats.received === received && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
      assert.ok(listener.stats.received > received, 'the datagram arrived')
    }
    await send(captured)
    assert.deepEqual(listener.stats.droppedByReason, { replay: 1 })
    assert.equal(listener.files().length, 0)
    await send(member.seal(plain!)) // the control: the member's next burst
    assert.deepEqual(
      listener.files().map((f) => f.name),
      ['member.bin'],
      'a fresh announcement is taken (the check above can fail)',
    )
  })

  it('a listener outside the swarm records nothing of its datagrams (dropped as sealed)', async (t) => {
    const udpPort = await freeUdpPort()
    const listener = createListener({
      udpPort,
      bindAddress: '127.0.0.1',
      broadcast: ['127.0.0.1'],
      staleAfterMs: 15_000,
    })
    await listener.start()
    onCleanup(t, () => listener.stop())
    const sender = createSocket('udp4')
    onCleanup(t, () => new Promise<void>((resolve) => sender.close(() => resolve())))
    const [plain] = encodeAnnouncements('PEERIDPEERID', 4000, [
      { id: 'b'.repeat(64), name: 'x.bin', size: 10, have: Bitfield.full(1) },
    ])
    sender.send(new DatagramGuard(randomBytes(32), 15_000).seal(plain!), udpPort, '127.0.0.1')
    while (listener.stats.received === 0) await new Promise((r) => setTimeout(r, 5))
    assert.deepEqual(listener.stats.droppedByReason, { sealed: 1 })
    assert.equal(listener.files().length, 0)
  })
})

describe('records over shared memory', () => {
  it('seal and open chunk buffers that live in a SharedArrayBuffer (sodium-native cannot touch those directly)', async () => {
    const { RecordOpener } = await import('../../src/core/trust/records.js')
    const tx = randomBytes(64)
    const id = randomBytes(32)
    const sealer = new RecordSealer(tx, id)
    const opener = new RecordOpener(tx, id)
    opener.start(sealer.streamHeader.subarray(3))
    const plain = Buffer.from(new SharedArrayBuffer(200_000))
    randomBytes(200_000).copy(plain)
    const out = Buffer.alloc(sealedLength(plain.length))
    sealer.sealInto(plain, out)
    const back = Buffer.from(new SharedArrayBuffer(plain.length))
    let at = 0
    let filled = 0
    while (at < out.length) {
      const length = out[at]! | (out[at + 1]! << 8) | (out[at + 2]! << 16)
      filled += opener.openInto(out.subarray(at + 3, at + 3 + length), back.subarray(filled))
      at += 3 + length
    }
    assert.equal(filled, plain.length)
    assert.ok(back.equals(plain))
  })
})
