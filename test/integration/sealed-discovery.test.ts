import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement-encode.js'
import { KnownPeers } from '../../src/core/discovery/known-peers.js'
import { createListener } from '../../src/core/discovery/listener.js'
import { DatagramGuard } from '../../src/core/trust/datagram-guard.js'
import { RecordSealer, sealedLength } from '../../src/core/trust/records.js'
import { nonceOf } from '../../src/core/trust/sealed-datagram.js'
import { deriveSwarmKeys } from '../../src/core/trust/swarm-secret.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'
import { freeUdpPort } from '../helpers/swarm.js'

/** A private swarm's listener on real UDP sockets: what it admits, what it drops and why. */

type Listener = ReturnType<typeof createListener>

async function startListener(
  t: Cleanup,
  udpPort: number,
  options: Partial<Parameters<typeof createListener>[0]> = {},
): Promise<Listener> {
  const listener = createListener({
    udpPort,
    bindAddress: '127.0.0.1',
    broadcast: ['127.255.255.255'],
    staleAfterMs: 15_000,
    ...options,
  })
  await listener.start()
  onCleanup(t, () => listener.stop())
  return listener
}

/** A UDP socket of a stranger's (or a member's), bound on loopback. */
async function udpSocket(t: Cleanup, address = '127.0.0.1'): Promise<Socket> {
  const socket = createSocket('udp4')
  socket.bind(0, address)
  await once(socket, 'listening')
  onCleanup(t, () => new Promise<void>((resolve) => socket.close(() => resolve())))
  return socket
}

/** Sends `bytes` to `port` on loopback and waits (10 s at most) until the listener has read them. */
async function deliver(listener: Listener, from: Socket, bytes: Buffer, port: number): Promise<void> {
  const received = listener.stats.received
  from.send(bytes, port, '127.0.0.1')
  const until = Date.now() + 10_000
  while (listener.stats.received === received && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
  assert.ok(listener.stats.received > received, 'the datagram arrived')
}

const announcementOf = (name: string, id: string): Buffer =>
  encodeAnnouncements('PEERIDPEERID', 4000, [{ id, name, size: 10, have: Bitfield.full(1) }])[0]!
describe('sealed discovery (private swarm)', () => {
  it("admits a sealed announcement once; drops its replay, a flipped bit, another swarm's and a plain one, each counted", async (t) => {
    const udpPort = await freeUdpPort()
    const keys = deriveSwarmKeys(randomBytes(32))
    const listener = await startListener(t, udpPort, { guard: new DatagramGuard(keys.datagramKey, 15_000) })
    const sender = await udpSocket(t)
    const plain = announcementOf('secret-name.bin', 'a'.repeat(64))
    const sealed = new DatagramGuard(keys.datagramKey, 15_000).seal(plain)
    const flipped = Buffer.from(sealed)
    flipped[60]! ^= 1
    const foreign = new DatagramGuard(deriveSwarmKeys(randomBytes(32)).datagramKey, 15_000).seal(plain)
    const send = (bytes: Buffer): Promise<void> => deliver(listener, sender, bytes, udpPort)
    await send(sealed)
    assert.deepEqual(
      listener.files().map((f) => f.name),
      ['secret-name.bin'],
    )
    for (const bytes of [sealed, flipped, foreign, plain]) await send(bytes)
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
    ear.on('message', (m, from) => queries.push({ port: from.port, nonce: nonceOf(m) }))
    const known = new KnownPeers(join(await tmpDir(t), 'known_peers.json'))
    const heard = (): string[] => known.list().map((p) => p.address)
    const listener = await startListener(t, udpPort, {
      guard: new DatagramGuard(keys.datagramKey, 15_000),
      knownPeers: known,
    })
    listener.query()
    const deadline = Date.now() + 10_000
    while (queries.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    assert.ok(queries.length > 0, 'the query was heard')
    const member = new DatagramGuard(keys.datagramKey, 15_000)
    const plain = announcementOf('member.bin', 'c'.repeat(64))
    const stranger = await udpSocket(t, '127.0.0.66')
    const send = (bytes: Buffer): Promise<void> => deliver(listener, stranger, bytes, queries[0]!.port)
    await send(member.seal(plain)) // captured from the member's broadcast, never seen by this process
    assert.deepEqual(listener.stats.droppedByReason, { unbound: 1 })
    assert.deepEqual(heard(), [])
    assert.equal(listener.files().length, 0)
    await send(member.seal(plain, queries[0]!.nonce)) // the control: a member's answer to that query
    assert.deepEqual(heard(), ['127.0.0.66'], 'an answer to our query is remembered (the check above can fail)')
    assert.deepEqual(
      listener.files().map((f) => f.name),
      ['member.bin'],
    )
  })

  it("a member's announcement sent before a listener started, replayed to its discovery port by a stranger: dropped as early (its replay record could not hold it), a fresh one taken", async (t) => {
    const udpPort = await freeUdpPort()
    const keys = deriveSwarmKeys(randomBytes(32))
    const member = new DatagramGuard(keys.datagramKey, 15_000)
    const plain = announcementOf('member.bin', 'c'.repeat(64))
    const captured = member.seal(plain) // heard on the LAN before the listener's process began
    await new Promise((r) => setTimeout(r, 20))
    const listener = await startListener(t, udpPort, { guard: new DatagramGuard(keys.datagramKey, 15_000) })
    const stranger = await udpSocket(t, '127.0.0.66')
    const send = (bytes: Buffer): Promise<void> => deliver(listener, stranger, bytes, udpPort)
    await send(captured)
    assert.deepEqual(listener.stats.droppedByReason, { early: 1 })
    assert.equal(listener.files().length, 0)
    await send(member.seal(plain)) // the control: the member's next burst
    assert.deepEqual(
      listener.files().map((f) => f.name),
      ['member.bin'],
      'a fresh announcement is taken (the check above can fail)',
    )
  })

  it('a listener outside the swarm records nothing of its datagrams (dropped as sealed)', async (t) => {
    const udpPort = await freeUdpPort()
    const listener = await startListener(t, udpPort)
    const sender = await udpSocket(t)
    const sealed = new DatagramGuard(randomBytes(32), 15_000).seal(announcementOf('x.bin', 'b'.repeat(64)))
    await deliver(listener, sender, sealed, udpPort)
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
