import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import type { LivePeer, PeerFinder } from '../../src/core/download/job.js'
import { LivePeers } from '../../src/core/download/live-peers.js'
import { Scheduler } from '../../src/core/download/scheduler.js'
import { silentLogger } from '../../src/core/log.js'
import type { ConnectionPool } from '../../src/core/pool.js'
import type { PeerClient } from '../../src/core/transfer/client.js'

/**
 * What a download believes of the LAN's claims about its peers
 * (live-peers.ts): claims only add chunks, and a path it has seen deliver
 * stays followed when its claims vanish, until a request to it fails. The
 * real scheduler; the finder is a list the test rewrites, as forged and
 * honest announcements would.
 */

const COUNT = 16

function rig() {
  let clock = 0
  let listed: LivePeer[] = []
  const finder: PeerFinder = { peers: () => listed, waitForChange: async () => {} }
  const scheduler = new Scheduler(COUNT, { now: () => clock, random: () => 0 })
  // What the scheduler was last told each path holds (a copy: the field passed on is changed in place later).
  const told = new Map<string, number[]>()
  const setPeer = scheduler.setPeer.bind(scheduler)
  scheduler.setPeer = (key, have, peerId) => {
    told.set(key, have.indices())
    setPeer(key, have, peerId)
  }
  const closed: string[] = []
  const pool = {
    closePeer: (p: LivePeer) => closed.push(`${p.address}:${p.port}`),
  } as unknown as ConnectionPool<PeerClient>
  const live = new LivePeers({
    id: 'f'.repeat(64),
    peers: finder,
    scheduler,
    pool,
    log: silentLogger(),
    now: () => clock,
  })
  return {
    scheduler,
    live,
    told,
    list(peers: LivePeer[]) {
      listed = peers
    },
    /** `ms` on (past the refresh interval by default), then refresh. */
    refresh(ms = 1000) {
      clock += ms
      live.refresh()
    },
  }
}

const field = (indices: readonly number[]): Bitfield => {
  const b = new Bitfield(COUNT)
  for (const i of indices) b.set(i)
  return b
}
const seeder = (have: Bitfield, port = 4000): LivePeer => ({
  address: '127.0.0.1',
  port,
  have,
  peerId: 'a'.repeat(64),
  transport: 'noise',
})

describe('live peers: what a download believes of the claims', () => {
  it('a claim with fewer chunks does not take any back: the scheduler keeps every chunk any claim listed', () => {
    const r = rig()
    r.list([seeder(Bitfield.full(COUNT))])
    r.refresh()
    r.list([seeder(field([]))]) // a stranger's forged "I hold nothing" under the seeder's address, port and ID
    r.refresh()
    assert.equal(r.told.get('127.0.0.1:4000')?.length, COUNT)
    assert.equal(r.scheduler.next('127.0.0.1:4000'), 0, 'still asked')
  })

  it('a claim changed in place (as the dictionary changes its fields) adds its new chunks', () => {
    const r = rig()
    const have = field([1])
    r.list([seeder(have)])
    r.refresh()
    have.set(5)
    r.refresh()
    assert.deepEqual(r.told.get('127.0.0.1:4000'), [1, 5])
  })

  it('a path that sent the manifest or delivered stays followed when its claims vanish (a goodbye, forged or not), and goes once a request to it fails', () => {
    const r = rig()
    r.scheduler.vouch('127.0.0.1:4000')
    r.list([seeder(Bitfield.full(COUNT))])
    r.refresh()
    r.list([])
    r.refresh()
    assert.deepEqual(r.live.keys(), ['127.0.0.1:4000'], 'kept')
    r.scheduler.peerFailed('127.0.0.1:4000') // its connection refused: it really left
    r.refresh(100) // within its backoff
    assert.deepEqual(r.live.keys(), [])
    assert.equal(r.scheduler.readyIn('127.0.0.1:4000'), Infinity, 'and the scheduler asks it nothing')
  })

  it('a path never proven goes when its claims vanish, and a returning one starts from its new claim', () => {
    const r = rig()
    r.list([seeder(field([0, 1]))])
    r.refresh()
    r.list([])
    r.refresh()
    assert.deepEqual(r.live.keys(), [])
    r.list([seeder(field([2]))])
    r.refresh()
    assert.deepEqual(r.told.get('127.0.0.1:4000'), [2])
  })

  it("a proven path whose claims vanished stays its peer's one path over another announced for its ID (a stranger's forged port), until it fails", () => {
    const r = rig()
    r.scheduler.vouch('127.0.0.1:4000')
    r.list([seeder(Bitfield.full(COUNT))])
    r.refresh()
    r.list([seeder(Bitfield.full(COUNT), 4999)]) // its goodbye forged, and its ID announced at another port
    r.refresh()
    assert.deepEqual(r.live.keys(), ['127.0.0.1:4000'])
    r.scheduler.peerFailed('127.0.0.1:4000') // it really left: the other path is tried
    r.refresh(100)
    assert.deepEqual(r.live.keys(), ['127.0.0.1:4999'])
  })

  it('property: each followed path is told the union of every claim heard about it since it was last dropped', () => {
    const step = fc.record({
      claims: fc.array(fc.option(fc.uniqueArray(fc.nat(COUNT - 1), { maxLength: COUNT }), { nil: undefined }), {
        minLength: 3,
        maxLength: 3,
      }),
      vouch: fc.nat(3),
    })
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        const r = rig()
        const union = new Map<number, Set<number>>() // the model, by port
        for (const { claims, vouch } of steps) {
          if (vouch < 3) r.scheduler.vouch(`127.0.0.1:${4000 + vouch}`)
          const listed = claims.flatMap((c, k) =>
            c === undefined ? [] : [{ ...seeder(field(c), 4000 + k), peerId: String(k).repeat(64) }],
          )
          r.list(listed)
          r.refresh()
          for (let k = 0; k < 3; k++) {
            const key = `127.0.0.1:${4000 + k}`
            const claim = claims[k]
            if (claim !== undefined) union.set(k, new Set([...(union.get(k) ?? []), ...claim]))
            else if (!r.scheduler.isProven(key)) union.delete(k)
            assert.equal(r.live.keys().includes(key), union.has(k), `${key} followed`)
            if (union.has(k))
              assert.deepEqual(
                r.told.get(key),
                [...union.get(k)!].sort((a, b) => a - b),
              )
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
