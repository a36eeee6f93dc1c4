import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ConnectionTable, type Slot, type SlotUse } from '../../src/core/transfer/admission.js'

/** A connection as the table sees it: what it holds its slot for, and whether it was closed to make room. */
class FakeConnection implements Slot {
  reclaimed = 0
  constructor(
    public use: SlotUse,
    readonly address: string,
  ) {}
  reclaim(): void {
    this.reclaimed++
  }
}

const limits = { maxConnections: 4, maxConnectionsPerAddress: 2, reclaimIdleMs: 1000, newConnectionsPerSecond: 1e6 }
/** Room for an address to hold more than the others (the crowded rule: admission.ts). */
const wide = { maxConnections: 8, maxConnectionsPerAddress: 5, reclaimIdleMs: 1000, newConnectionsPerSecond: 1e6 }

describe('connection table (admission.ts)', () => {
  it('an address opens at most newConnectionsPerSecond a second (twice that at once); others are not held back', () => {
    let now = 0
    const table = new ConnectionTable<FakeConnection>(
      { maxConnections: 100, maxConnectionsPerAddress: 100, reclaimIdleMs: 1000, newConnectionsPerSecond: 2 },
      () => now,
    )
    for (let i = 0; i < 4; i++) assert.deepEqual(table.admit('a'), { admitted: true })
    assert.deepEqual(table.admit('a'), { admitted: false, reason: 'rate' })
    assert.deepEqual(table.admit('b'), { admitted: true }, 'another address has its own bucket')
    assert.equal(table.size, 0, 'a refusal holds no slot')
    now = 499
    assert.deepEqual(table.admit('a'), { admitted: false, reason: 'rate' })
    now = 500
    assert.deepEqual(table.admit('a'), { admitted: true }, 'one more each half second')
    assert.deepEqual(table.admit('a'), { admitted: false, reason: 'rate' })
  })

  it('when full, the oldest connection that asked nothing gives way first, then the one idle longest (past reclaimIdleMs), never a busy one', () => {
    let now = 10_000
    const table = new ConnectionTable<FakeConnection>(limits, () => now)
    const busy = new FakeConnection({ busy: true }, 'a')
    const idleRecent = new FakeConnection({ idleSince: 9_500 }, 'b')
    const idleOld = new FakeConnection({ idleSince: 8_000 }, 'c')
    const silent = new FakeConnection({ silentSince: 9_900 }, 'd')
    for (const c of [busy, idleRecent, idleOld, silent]) {
      assert.deepEqual(table.admit(c.address), { admitted: true })
      table.add(c, c.address)
    }
    assert.deepEqual(table.admit('e'), { admitted: true, reclaimed: 'silent' })
    assert.equal(silent.reclaimed, 1)
    table.add(new FakeConnection({ busy: true }, 'e'), 'e')
    assert.deepEqual(table.admit('f'), { admitted: true, reclaimed: 'idle' })
    assert.equal(idleOld.reclaimed, 1, 'idle longest, past reclaimIdleMs')
    table.add(new FakeConnection({ busy: true }, 'f'), 'f')
    assert.deepEqual(table.admit('g'), { admitted: false, reason: 'full' }, 'idle 500 ms is not enough; busy never')
    now = 10_600
    assert.deepEqual(table.admit('g'), { admitted: true, reclaimed: 'idle' })
    assert.equal(idleRecent.reclaimed, 1)
    assert.equal(busy.reclaimed, 0)
  })

  it('the per-address cap is never lifted by making room', () => {
    const table = new ConnectionTable<FakeConnection>(limits, () => 0)
    for (let i = 0; i < 2; i++) table.add(new FakeConnection({ silentSince: -1 }, 'a'), 'a')
    assert.deepEqual(table.admit('a'), { admitted: false, reason: 'address' })
    assert.deepEqual(table.admit('a', true), { admitted: false, reason: 'address' }, 'nor for a DHT session')
  })

  it("a DHT session (rated at its handshake, by where it came from) spends none of its address's rate", () => {
    const table = new ConnectionTable<FakeConnection>(
      { maxConnections: 100, maxConnectionsPerAddress: 100, reclaimIdleMs: 1000, newConnectionsPerSecond: 2 },
      () => 0,
    )
    for (let i = 0; i < 50; i++) assert.deepEqual(table.admit('a', true), { admitted: true })
    for (let i = 0; i < 4; i++) assert.deepEqual(table.admit('a'), { admitted: true }, 'its whole burst left')
    assert.deepEqual(table.admit('a'), { admitted: false, reason: 'rate' })
  })

  it('when full and none is silent, an idle connection never given anything gives way before one served, however briefly idle', () => {
    const now = 10_000
    const table = new ConnectionTable<FakeConnection>(limits, () => now)
    const served = new FakeConnection({ idleSince: 8_000 }, 'a') // idle 2 s: past reclaimIdleMs
    const unservedRecent = new FakeConnection({ idleSince: 9_990, unserved: true }, 'b')
    const unservedOlder = new FakeConnection({ idleSince: 9_900, unserved: true }, 'c')
    const busy = new FakeConnection({ busy: true }, 'd')
    for (const c of [served, unservedRecent, unservedOlder, busy]) table.add(c, c.address)
    assert.deepEqual(table.admit('e'), { admitted: true, reclaimed: 'unserved' })
    assert.equal(unservedOlder.reclaimed, 1, 'the unserved one idle longest')
    table.add(new FakeConnection({ busy: true }, 'e'), 'e')
    assert.deepEqual(table.admit('f'), { admitted: true, reclaimed: 'unserved' })
    assert.equal(unservedRecent.reclaimed, 1, 'idle 10 ms is enough when it was never served')
    table.add(new FakeConnection({ busy: true }, 'f'), 'f')
    assert.deepEqual(table.admit('g'), { admitted: true, reclaimed: 'idle' })
    assert.equal(served.reclaimed, 1, 'then the served one idle past reclaimIdleMs')
  })

  it('when full of served connections, one idle of the address holding the most gives way, if it holds at least two more than the newcomer would', () => {
    const now = 10_000
    const six = { maxConnections: 6, maxConnectionsPerAddress: 4, reclaimIdleMs: 60_000, newConnectionsPerSecond: 1e6 }
    const table = new ConnectionTable<FakeConnection>(six, () => now)
    const flood = [9_990, 9_950, 9_999, 9_980].map((since) => new FakeConnection({ idleSince: since }, 'f'))
    const honest = [new FakeConnection({ idleSince: 9_000 }, 'h'), new FakeConnection({ idleSince: 9_100 }, 'h')]
    for (const c of [...flood, ...honest]) table.add(c, c.address)
    assert.deepEqual(table.admit('n'), { admitted: true, reclaimed: 'crowded' })
    assert.equal(
      flood[1]!.reclaimed,
      1,
      "the crowded address's connection idle longest, not the honest ones idle longer",
    )
    table.add(new FakeConnection({ busy: true }, 'n'), 'n')
    // f holds 3 now, n 1: a second from n would hold 2, and 3 is not two more than that.
    assert.deepEqual(table.admit('n'), { admitted: false, reason: 'full' })
    assert.deepEqual(table.admit('m'), { admitted: true, reclaimed: 'crowded' }, 'a third address: 3 ≥ 1 + 2')
    assert.ok(honest.every((c) => c.reclaimed === 0))
  })

  it('property: counts stay exact, limits hold, each slot is released once, only silent, unserved idle or long-idle connections are reclaimed', () => {
    const use = fc.oneof(
      fc.record({ silentSince: fc.integer({ min: 0, max: 5000 }) }),
      fc.record({ idleSince: fc.integer({ min: 0, max: 5000 }) }),
      fc.record({ idleSince: fc.integer({ min: 0, max: 5000 }), unserved: fc.constant(true) }),
      fc.constant({ busy: true as const }),
    )
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('connect' as const),
        address: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
        use,
        dht: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('close' as const), pick: fc.nat(), twice: fc.boolean() }),
      fc.record({ kind: fc.constant('change' as const), pick: fc.nat(), use }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const now = 5000
        const table = new ConnectionTable<FakeConnection>(wide, () => now)
        const open: FakeConnection[] = []
        const released = new Set<FakeConnection>()
        for (const o of ops) {
          if (o.kind === 'connect') {
            const before = new Map(open.map((c) => [c, c.reclaimed]))
            const holds = (address: string) => open.filter((c) => c.address === address).length
            const crowdedFrom = holds(o.address) + 3
            const admission = table.admit(o.address, o.dht)
            const reclaimed = open.filter((c) => c.reclaimed !== before.get(c))
            assert.ok(reclaimed.length <= 1)
            for (const c of reclaimed) {
              assert.ok(holds(o.address) < wide.maxConnectionsPerAddress, 'the per-address cap is never lifted')
              const u = c.use
              assert.ok(
                'silentSince' in u ||
                  ('idleSince' in u &&
                    (u.unserved === true ||
                      u.idleSince <= now - wide.reclaimIdleMs ||
                      holds(c.address) >= crowdedFrom)),
              )
              assert.ok(admission.admitted)
              open.splice(open.indexOf(c), 1)
              released.add(c)
              assert.equal(table.release(c), false, 'already released when it was reclaimed')
            }
            if (admission.admitted) {
              const c = new FakeConnection(o.use, o.address)
              table.add(c, o.address)
              open.push(c)
            } else if (admission.reason === 'address') {
              assert.equal(open.filter((c) => c.address === o.address).length, wide.maxConnectionsPerAddress)
            } else if (admission.reason === 'full') {
              assert.equal(open.length, wide.maxConnections)
              assert.ok(
                open.every(
                  (c) =>
                    'busy' in c.use ||
                    ('idleSince' in c.use &&
                      c.use.idleSince > now - wide.reclaimIdleMs &&
                      !c.use.unserved &&
                      open.filter((d) => d.address === c.address).length < crowdedFrom),
                ),
              )
            }
          } else if (open.length > 0) {
            const c = open[o.pick % open.length]!
            if (o.kind === 'change') c.use = o.use
            else {
              open.splice(open.indexOf(c), 1)
              assert.equal(table.release(c), true)
              if (o.twice) assert.equal(table.release(c), false)
              released.add(c)
            }
          }
          assert.equal(table.size, open.length)
          assert.ok(table.size <= wide.maxConnections)
          for (const address of ['a', 'b', 'c', 'd', 'e']) {
            const n = open.filter((c) => c.address === address).length
            assert.equal(table.from(address), n)
            assert.ok(n <= wide.maxConnectionsPerAddress)
          }
          assert.deepEqual(new Set(table.connections()), new Set(open))
          for (const c of released) assert.ok(c.reclaimed <= 1)
        }
      }),
      { numRuns: 300 },
    )
  })
})
