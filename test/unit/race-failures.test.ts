import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RaceFailures } from '../../src/core/download/manifest-race-lost.js'
import { P2PError } from '../../src/core/errors.js'

const refused = () => new P2PError('E_CONNECT', 'cannot connect: ECONNREFUSED')
const id = 'ab'.repeat(32)

describe('what a lost manifest race says (manifest-race-lost.ts)', () => {
  it('names an address as crowded by its distinct unreachable ports, not by attempts (a stopped seeder is asked each second)', () => {
    const stopped = new RaceFailures()
    for (let attempt = 0; attempt < 30; attempt++) stopped.record(refused(), { address: '10.0.0.1', port: 5000 })
    for (let port = 1; port <= 7; port++) stopped.record(refused(), { address: '10.0.0.2', port })
    assert.match(stopped.lost(id).message, /unreachable; run again later$/)

    const flood = new RaceFailures()
    for (let port = 1; port <= 9; port++) flood.record(refused(), { address: '10.0.0.1', port })
    for (let port = 1; port <= 200; port++) flood.record(refused(), { address: 'fe80::1%eth0', port })
    flood.record(new P2PError('E_BUSY', 'peer: run p2p-download --peer 6.6.6.6 --transport plain'), {
      address: '10.0.0.2',
      port: 1,
    })
    const err = flood.lost(id)
    assert.equal(err.code, 'E_NO_PEER')
    // A peer's own words, quoted as such (and cut at 100 characters): they cannot pass for our advice.
    assert.match(
      err.message,
      /last error: a peer said "run p2p-download --peer 6\.6\.6\.6 --transport plain" \[E_BUSY\]/,
    )
    assert.match(err.message, /; 64 or more ports announced at fe80::1%eth0 could not be reached.*--peer/)
  })

  it('counts each IPv6 address apart (hosts of a LAN share a /64), never a named peer, a DHT peer or a non-address', () => {
    const failures = new RaceFailures()
    for (let host = 1; host <= 12; host++) failures.record(refused(), { address: `2001:db8:0:1::${host}`, port: 7 })
    for (let port = 1; port <= 20; port++) {
      failures.record(refused(), { address: '10.0.0.9', port, named: true })
      failures.record(refused(), { address: 'dht:x', port })
      failures.record(refused(), { address: '\u001b[31mred', port })
    }
    assert.match(failures.lost(id).message, /unreachable; run again later$/)
  })

  it('ends E_NOT_FOUND when the only peer asked said it lacks the file', () => {
    const lacking = new RaceFailures()
    lacking.record(new P2PError('E_NOT_FOUND', 'not here'), { address: '10.0.0.3', port: 1 })
    assert.equal(lacking.lost(id).code, 'E_NOT_FOUND')
  })
})
