import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CHALLENGE_BYTES, DHT_HELLO } from '../../src/core/dht/greeting.js'
import { encodeFrame } from '../../src/core/transfer/framing.js'
import { UNPROVEN_DEADLINE_MS } from '../../src/core/transfer/unproven-sessions.js'
import { parsePeerId } from '../../src/core/trust/peer-id.js'
import { attackerNode, dhtSeeder, downloadThroughDht, testnet, testnetNodes } from '../helpers/dht.js'
import { type HostileSession, hostileRelay, udpVictim } from '../helpers/hostile-relay.js'
import { freeUdpPort, seeded } from '../helpers/swarm.js'

/**
 * A relay of the seeder's (a DHT node it announced its key to) forges a handshake naming a victim's address,
 * completes the Noise handshake with the seeder's answer itself, and asks for chunks on the stream the seeder
 * connected to the victim, from its own socket: the seeder must send no answer to an address that never asked
 * (a reflection: an attacker pass measured 1,172 packets, 552 KB, to a named address in 30 s). Own loopback
 * testnet only.
 */

/** Sessions taken over, one every SESSION_EVERY_MS: within the seeder's allowance for a relay and named address. */
const SESSIONS = 8
const SESSION_EVERY_MS = 750
/** A 3 MB file in 256 KiB chunks (seeded's --chunk-size): 12; each session asks for its manifest and all of them. */
const CHUNKS = 12
/**
 * What the victim may get: each session's stream header and greeting with their retransmissions, and the
 * acknowledgements of the attacker's packets (~650 bytes a session measured, with the requests left unanswered),
 * never an answer (~11 KB a session measured before: the seeder's first flight of chunk data, then it waits for
 * acknowledgements the victim never sends).
 */
const VICTIM_BOUND_BYTES = 16 * 1024

/** Sessions a firewalled relay takes over, one every 15 ms: before, 260 of them left 0 of 3 downloads. */
const FIREWALLED_SESSIONS = 260

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('a hostile relay of a DHT seeder (own loopback testnet)', () => {
  it("naming a victim's address and asking for chunks from its own: the victim gets no answer", async (t) => {
    const started = performance.now()
    const { bootstrap, nodes } = await testnetNodes(t)
    const { dir, id } = await seeded(t, 3_000_000)
    const to = { host: '127.0.0.1', port: await freeUdpPort() }
    const { serve, line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--dht-port', String(to.port)])
    const victim = await udpVictim(t)
    // A node the seeder announced its key to (not the first, the bootstrap node, which keeps no records).
    const relay = hostileRelay(t, nodes.at(-1)!, parsePeerId(line.peerId))
    // The manifest and every chunk, in one write: one udx packet, sent before the seeder's silence towards the
    // attacker (its acknowledgements go to the victim) stalls the attacker's stream at its first retransmission.
    const requests = Buffer.concat([
      encodeFrame({ type: 'manifest', id }),
      ...Array.from({ length: CHUNKS }, (_, index) => encodeFrame({ type: 'chunk', id, index })),
    ])
    const sessions: HostileSession[] = []
    const attackFrom = performance.now()
    for (let tries = 0; sessions.length < SESSIONS && tries < SESSIONS + 4; tries++) {
      const session = await relay.open(to, victim.address, 1000)
      if (!session) continue
      session.stream.write(requests)
      sessions.push(session)
      await sleep(SESSION_EVERY_MS)
    }
    await sleep(1500) // the last session's answers' flight
    const frames = sessions.length * (CHUNKS + 1)
    const bytes = victim.bytes()
    const acked = sessions.filter((s) => victim.acked(s.ownStreamId) >= 2).length
    const seconds = (from: number) => ((performance.now() - from) / 1000).toFixed(1)
    t.diagnostic(
      `${sessions.length} sessions taken over, ${frames} request frames sent in ${seconds(attackFrom)} s (the ` +
        `seeder acknowledged ${acked} sessions' to the victim); the victim got ${bytes} bytes in ` +
        `${victim.datagrams()} datagrams; ${seconds(started)} s in all`,
    )
    // The attack ran end to end, so a quiet victim means the seeder held back, not that nothing reached it.
    assert.equal(sessions.length, SESSIONS, 'the seeder answered every forged handshake through the relay')
    for (const { stream } of sessions) assert.equal(await stream.opened, true, 'Noise completed by the relay')
    // The seeder acknowledged the attacker's stream header and request packet (sequence numbers 0 and 1), to the
    // victim: its stream took them, from the relay's address.
    assert.equal(acked, SESSIONS, 'the seeder received every session’s requests')
    assert.ok(bytes < VICTIM_BOUND_BYTES, `${bytes} bytes sent to an address that never asked: more than greetings`)
    // Each taken-over session refused at its first bytes (no challenge returned), and counted as a refusal.
    assert.equal(await serve.stop(), 0)
    const stopped = JSON.parse(serve.stdout().trim().split('\n').at(-1)!) as { stats: { refusedAuth: number } }
    assert.ok(stopped.stats.refusedAuth >= SESSIONS, JSON.stringify(stopped.stats))
  })

  it("claiming a firewall (the engine's stream then connects to whoever speaks first: the relay itself), naming made-up addresses, returning the challenge and asking for chunks: its sessions count under its own address, and downloads complete, byte-identical", async (t) => {
    // The testnet, and so the relay, at 127.0.0.2: its own sessions are not the honest peers' (127.0.0.1).
    const { bootstrap, nodes } = await testnetNodes(t, '127.0.0.2')
    const { dir, id, sha } = await seeded(t, 3_000_000)
    const to = { host: '127.0.0.1', port: await freeUdpPort() }
    const { serve, line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--dht-port', String(to.port)])
    const relay = hostileRelay(t, nodes.at(-1)!, parsePeerId(line.peerId))
    const sessions: HostileSession[] = []
    let greeted = 0
    for (let i = 0; sessions.length < FIREWALLED_SESSIONS && i < FIREWALLED_SESSIONS + 20; i++) {
      // Each naming another made-up address: before, each was counted apart, and stood in the upload line apart.
      const named = { host: `127.0.3.${(i % 250) + 1}`, port: 40_000 + i }
      const session = await relay.open(to, named, 1000, true)
      if (!session) continue
      sessions.push(session)
      returnChallenge(session, () => {
        greeted++
        return encodeFrame({ type: 'manifest', id })
      })
      await sleep(15)
    }
    let asking = true
    const asks = (async () => {
      for (let k = 0; asking && k < 500; k++) {
        for (const { stream } of sessions) stream.write(encodeFrame({ type: 'chunk', id, index: k % CHUNKS }))
        await sleep(400)
      }
    })()
    try {
      await sleep(1000)
      t.diagnostic(`${sessions.length} sessions taken over, ${greeted} greeted the relay itself`)
      // The attack ran: the seeder greeted the relay on its sessions (its stream connected to the relay).
      assert.ok(greeted >= 16, `${greeted} greeted`)
      for (let d = 0; d < 3; d++)
        await downloadThroughDht(join(dir, `d${d}`), bootstrap, ['--id', id, '--wait', '20'], sha)
    } finally {
      asking = false
      await asks
    }
    assert.equal(await serve.stop(), 0)
    const stopped = JSON.parse(serve.stdout().trim().split('\n').at(-1)!) as { stats: { refusedPerAddress: number } }
    assert.ok(
      stopped.stats.refusedPerAddress >= 1,
      `the relay's own address at its cap: ${JSON.stringify(stopped.stats)}`,
    )
  })

  it(`a dialler that never returns the challenge is closed ${UNPROVEN_DEADLINE_MS / 1000} s after the greeting (it held its place for the whole 10 s handshake deadline), and counted`, async (t) => {
    const bootstrap = await testnet(t)
    const { dir } = await seeded(t, 300_000)
    const { serve, line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    const stranger = await attackerNode(t, bootstrap)
    const socket = stranger.connect(parsePeerId(line.peerId))
    socket.on('error', () => undefined)
    const greeting = await new Promise<boolean>((resolve) => {
      socket.once('data', () => resolve(true)) // then nothing
      setTimeout(resolve, 20_000, false).unref()
    })
    assert.ok(greeting, 'greeted (the test can tell)')
    const greeted = performance.now()
    const closed = await new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true))
      setTimeout(resolve, 15_000, false).unref()
    })
    const ms = performance.now() - greeted
    socket.destroy()
    t.diagnostic(`closed ${Math.round(ms)} ms after the greeting`)
    assert.ok(closed && ms < UNPROVEN_DEADLINE_MS + 2000, `closed after ${Math.round(ms)} ms`)
    assert.equal(await serve.stop(), 0)
    const stopped = JSON.parse(serve.stdout().trim().split('\n').at(-1)!) as { stats: { refusedAuth: number } }
    assert.ok(stopped.stats.refusedAuth >= 1, JSON.stringify(stopped.stats))
  })
})

/** Once the seeder's greeting came on `session`, returns its challenge, followed by what `then` gives. */
function returnChallenge(session: HostileSession, then: () => Buffer): void {
  let greeting = Buffer.alloc(0)
  const onData = (data: Buffer): void => {
    greeting = Buffer.concat([greeting, data])
    if (greeting.byteLength < DHT_HELLO.byteLength + CHALLENGE_BYTES) return
    session.stream.off('data', onData)
    session.stream.write(
      Buffer.concat([greeting.subarray(DHT_HELLO.byteLength, DHT_HELLO.byteLength + CHALLENGE_BYTES), then()]),
    )
  }
  session.stream.on('data', onData)
}
