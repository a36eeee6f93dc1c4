import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { DatagramGuard } from '../../src/core/trust/datagram-guard.js'
import { deriveSwarmKeys } from '../../src/core/trust/swarm-secret.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { announcer, storeWith } from '../helpers/discovery-store.js'
import { tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Wait (bounded) until `check` holds. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check() && Date.now() < deadline) await pause(20)
  assert.ok(check(), what)
}

/** A listener with its own socket on the port, the control: what it hears was sent. */
async function ownSocketListener(t: Cleanup, udpPort: number): Promise<DiscoveryListener> {
  const l = new DiscoveryListener({ udpPort, broadcast: [BROADCAST], staleAfterMs: 60_000 })
  onCleanup(t, () => l.stop())
  await l.start()
  return l
}

const haveCount = (l: DiscoveryListener, name: string): number | undefined =>
  l
    .files()
    .find((f) => f.name === name)
    ?.peers[0]?.have.count()

/**
 * Two stores announced on one fresh port: `ownAnnouncer`'s, whose sockets `listener` hears the port through (as in a
 * `--seed` process), and `otherAnnouncer`'s, another peer's; all started, all stopped when the test ends.
 */
async function sharing(t: Cleanup) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const own = await storeWith(join(dir, 'own'), [['mine.bin', 3 * 4096]])
  const other = await storeWith(join(dir, 'other'), [['theirs.bin', 3 * 4096]])
  const ownAnnouncer = announcer(t, own.store, udp, 5001, 60_000, { minBurstGapMs: 50 })
  await ownAnnouncer.start()
  const listener = new DiscoveryListener({
    udpPort: udp,
    broadcast: [BROADCAST],
    staleAfterMs: 60_000,
    sharedPort: ownAnnouncer,
  })
  onCleanup(t, () => listener.stop())
  await listener.start()
  const otherAnnouncer = announcer(t, other.store, udp, 5002, 60_000, { minBurstGapMs: 50 })
  await otherAnnouncer.start()
  return { udp, other, ownAnnouncer, listener, otherAnnouncer }
}

describe("a listener that hears the discovery port through its process's announcer (--seed)", () => {
  it('hears every announcement through it, binds no socket of its own there, and stops hearing when stopped', async (t) => {
    const { udp, other, ownAnnouncer, listener, otherAnnouncer } = await sharing(t)
    const theirs = () => haveCount(listener, 'theirs.bin')
    const mine = () => haveCount(listener, 'mine.bin')
    await until(() => theirs() === 3 && mine() === 3, 'both stores heard through the announcer')

    // A change of the other store's: heard while the announcer runs...
    await unlink(other.store.chunkPath(other.store.entryDir('theirs.bin'), 0))
    otherAnnouncer.schedule('changed')
    await until(() => theirs() === 2, 'the change heard')
    // ...and not once it stopped: the listener has no socket of its own on the port. A listener with one hears
    // the change (so it was sent) before the other is looked at.
    await ownAnnouncer.stop()
    const control = await ownSocketListener(t, udp)
    await unlink(other.store.chunkPath(other.store.entryDir('theirs.bin'), 1))
    otherAnnouncer.schedule('changed again')
    await until(() => haveCount(control, 'theirs.bin') === 1, 'the change heard by a listener of its own')
    await pause(100)
    assert.equal(theirs(), 2, 'a burst after the announcer stopped reached the listener')
  })

  it("hears a named peer's bursts by unicast, which reach the announcer's socket on the host's own address, not a listener's on the wildcard", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const own = await storeWith(join(dir, 'own'), [['mine.bin', 3 * 4096]])
    const other = await storeWith(join(dir, 'other'), [['theirs.bin', 3 * 4096]])
    // This host's announcer binds the port on the host's own address too (as reach.ts has it do).
    const ownAnnouncer = announcer(t, own.store, udp, 5001, 60_000, { unicastAddresses: ['127.0.0.1'] })
    await ownAnnouncer.start()
    const listeners = [true, false].map((shared) => {
      const l = new DiscoveryListener({
        udpPort: udp,
        broadcast: [],
        staleAfterMs: 60_000,
        ...(shared ? { sharedPort: ownAnnouncer } : {}),
      })
      onCleanup(t, () => l.stop())
      return l
    })
    for (const l of listeners) await l.start()
    // A peer beyond broadcast that names this host: its bursts come by unicast only.
    const named = announcer(t, other.store, udp, 5002, 60_000, {
      broadcast: [],
      peers: [{ address: '127.0.0.1', port: udp, name: 'this host' }],
    })
    await named.start()
    const heard = (l: DiscoveryListener) => l.files().some((f) => f.name === 'theirs.bin')
    await until(() => heard(listeners[0]!), "the named peer's burst heard through the announcer")
    assert.equal(heard(listeners[1]!), false, 'a listener of its own on the wildcard address: the burst went elsewhere')
  })

  it('in a private swarm: the listener opens with a guard of its own what the announcer opened with its own (no replay)', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const key = deriveSwarmKeys(randomBytes(32)).datagramKey
    const guard = () => new DatagramGuard(key, 60_000)
    const own = await storeWith(join(dir, 'own'), [['mine.bin', 3 * 4096]])
    const other = await storeWith(join(dir, 'other'), [['theirs.bin', 3 * 4096]])
    const ownAnnouncer = announcer(t, own.store, udp, 5001, 60_000, { guard: guard() })
    await ownAnnouncer.start()
    const listener = new DiscoveryListener({
      udpPort: udp,
      broadcast: [BROADCAST],
      staleAfterMs: 60_000,
      guard: guard(),
      sharedPort: ownAnnouncer,
    })
    onCleanup(t, () => listener.stop())
    await listener.start()
    await announcer(t, other.store, udp, 5002, 60_000, { guard: guard() }).start()
    await until(() => haveCount(listener, 'theirs.bin') === 3, "the other peer's sealed announcement heard")
    assert.equal(listener.stats.droppedByReason.replay, undefined)
  })

  it('a stopped listener is no longer given what the announcer hears', async (t) => {
    const { udp, other, listener, otherAnnouncer } = await sharing(t)
    await until(() => listener.stats.received > 0, 'heard')
    await listener.stop()
    const received = listener.stats.received
    const control = await ownSocketListener(t, udp)
    await unlink(other.store.chunkPath(other.store.entryDir('theirs.bin'), 0))
    otherAnnouncer.schedule('changed')
    await until(() => haveCount(control, 'theirs.bin') === 2, 'the change heard by a listener of its own')
    await pause(100)
    assert.equal(listener.stats.received, received)
  })
})
