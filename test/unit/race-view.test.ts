import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PEERS_READ_EVERY_MS, PEERS_READ_GAP_MS, RaceView } from '../../src/core/download/race-view.js'

/** The manifest race's view of the peers (race-view.ts): read at once, then at most once a gap after changes. */
describe('the manifest race’s view of the peers', () => {
  it('reads at once, again only once changed and the gap is over; keys made as it reads', () => {
    let reads = 0
    const view = new RaceView(() => {
      reads++
      return [{ address: '::1', port: 47000 + reads }]
    })
    assert.equal(view.current(0)[0]!.port, 47001, 'the first read at once')
    assert.equal(view.nextReadAt(), PEERS_READ_EVERY_MS, 'nothing said to have changed: read again after a while')
    view.current(10)
    assert.equal(reads, 1, 'unchanged: not read again')
    view.stale()
    assert.equal(view.nextReadAt(), PEERS_READ_GAP_MS)
    for (let t = 1; t < PEERS_READ_GAP_MS; t += 7) {
      view.stale() // a flood's changes within the gap
      view.current(t)
    }
    assert.equal(reads, 1, 'changes within the gap: one read when it is over')
    const [peer] = view.current(PEERS_READ_GAP_MS)
    assert.equal(reads, 2)
    assert.deepEqual(view.keysOf(peer!), { key: '::1:47002', address: '0:0:0:0::/64' }, 'an IPv6 host: its /64')
    // A finder whose peers change with nothing said (one come into view): read again all the same.
    view.current(PEERS_READ_GAP_MS + PEERS_READ_EVERY_MS)
    assert.equal(reads, 3)
  })
})
