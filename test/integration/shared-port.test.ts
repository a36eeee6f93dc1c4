import assert from 'node:assert/strict'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { onCleanup } from '../helpers/cleanup.js'
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

describe("a listener that hears the discovery port through its process's announcer (--seed)", () => {
  it('hears every announcement through it, binds no socket of its own there, and stops hearing when stopped', async (t) => {
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
    const theirs = () =>
      listener
        .files()
        .find((f) => f.name === 'theirs.bin')
        ?.peers[0]?.have.count()
    const mine = () =>
      listener
        .files()
        .find((f) => f.name === 'mine.bin')
        ?.peers[0]?.have.count()
    await until(() => theirs() === 3 && mine() === 3, 'both stores heard through the announcer')

    // A change of the other store's: heard while the announcer runs...
    await unlink(other.store.chunkPath(other.store.entryDir('theirs.bin'), 0))
    otherAnnouncer.schedule('changed')
    await until(() => theirs() === 2, 'the change heard')
    // ...and not once it stopped: the listener has no socket of its own on the port.
    await ownAnnouncer.stop()
    await unlink(other.store.chunkPath(other.store.entryDir('theirs.bin'), 1))
    otherAnnouncer.schedule('changed again')
    await pause(600)
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

  it('a stopped listener is no longer given what the announcer hears', async (t) => {
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
    await listener.start()
    const otherAnnouncer = announcer(t, other.store, udp, 5002, 60_000, { minBurstGapMs: 50 })
    await otherAnnouncer.start()
    await until(() => listener.stats.received > 0, 'heard')
    await listener.stop()
    const received = listener.stats.received
    await unlink(other.store.chunkPath(other.store.entryDir('theirs.bin'), 0))
    otherAnnouncer.schedule('changed')
    await pause(600)
    assert.equal(listener.stats.received, received)
  })
})
