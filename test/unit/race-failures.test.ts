import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RaceFailures } from '../../src/core/download/manifest-race-lost.js'
import { P2PError } from '../../src/core/errors.js'

const unreachable = (port: number) => new P2PError('E_CONNECT', `cannot connect to port ${port}: ECONNREFUSED`)

describe('what a lost manifest race says (manifest-race-lost.ts)', () => {
  it('names an address as crowded only past a few unreachable ports, the most crowded one, never a DHT peer', () => {
    const few = new RaceFailures()
    for (let port = 1; port <= 7; port++) few.record(unreachable(port), '10.0.0.1', '10.0.0.1')
    assert.match(few.lost('ab'.repeat(32)).message, /unreachable; run again later$/)

    const many = new RaceFailures()
    for (let port = 1; port <= 9; port++) many.record(unreachable(port), '10.0.0.1', '10.0.0.1')
    for (let port = 1; port <= 20; port++) many.record(unreachable(port), 'dht:x', 'dht:x')
    for (let port = 1; port <= 12; port++) many.record(unreachable(port), '2001:db8:0:1::/64', `2001:db8:0:1::${port}`)
    many.record(new P2PError('E_BUSY', 'busy'), '10.0.0.2', '10.0.0.2')
    const err = many.lost('ab'.repeat(32))
    assert.equal(err.code, 'E_NO_PEER')
    assert.match(err.message, /last error: busy \[E_BUSY\]/)
    assert.match(err.message, /12 ports announced at 2001:db8:0:1::1 could not be reached.*--peer 2001:db8:0:1::1, or/)
  })

  it('ends E_NOT_FOUND when the only peer asked said it lacks the file', () => {
    const lacking = new RaceFailures()
    lacking.record(new P2PError('E_NOT_FOUND', 'not here'), '10.0.0.3', '10.0.0.3')
    assert.equal(lacking.lost('ab'.repeat(32)).code, 'E_NOT_FOUND')
  })
})
