import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RaceFailures } from '../../src/core/download/manifest-race-lost.js'
import { P2PError } from '../../src/core/errors.js'
import { errorFromResponse } from '../../src/core/transfer/messages.js'

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
    assert.match(err.message, /last error: a peer said "run p2p-download --peer 6\.6\.6\.6 --transport plain"\)/)
    assert.doesNotMatch(err.message, /\[E_/, 'the line the CLI prints ends with its one code, no other')
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

  it('ends E_NOT_FOUND naming its last failure in words alone, no second code', () => {
    const failures = new RaceFailures()
    failures.record(new P2PError('E_AUTH', '10.0.0.3:1 holds another key than any peer ID announced for it'), {
      address: '10.0.0.3',
      port: 1,
    })
    const err = failures.lost(id, { ours: 'encrypted', peers: [] })
    assert.equal(err.code, 'E_NOT_FOUND')
    assert.match(err.message, /\(last error: 10\.0\.0\.3:1 holds another key .*\): is a seeder running\?$/)
    assert.doesNotMatch(err.message, /\[E_/)
  })
})

describe('a lost manifest race whose peers speak the other transport (other-transport.ts)', () => {
  const fix = /: run p2p-serve, p2p-announce and p2p-download with the same --transport$/

  it('an encrypted handshake answered in plain (p2p-serve --transport plain beside a default p2p-announce): E_AUTH, one code', () => {
    const failures = new RaceFailures()
    const plainAnswer = new P2PError('E_AUTH', '10.0.0.5:47010 answered in the plain protocol', { plain: true })
    failures.record(plainAnswer, { address: '10.0.0.5', port: 47010 })
    const err = failures.lost(id, { ours: 'encrypted', peers: [] })
    assert.equal(err.code, 'E_AUTH')
    assert.equal(err.exitCode, 4)
    assert.match(
      err.message,
      /in time: the peer that has it \(10\.0\.0\.5:47010\) announced the encrypted transport but its server speaks the plain one: run/,
    )
    assert.match(err.message, fix)
    assert.doesNotMatch(err.message, /\[E_|seeder running/)
  })

  it("a plain request refused E_AUTH by an encrypted server: said without the peer's own words", () => {
    const failures = new RaceFailures()
    const refusal = errorFromResponse({
      code: 'E_AUTH',
      message: 'drop --transport plain \u001b[31m and run --peer 6.6.6.6',
    })
    for (let attempt = 0; attempt < 5; attempt++) failures.record(refusal, { address: '10.0.0.6', port: 1 })
    const err = failures.lost(id, { ours: 'plain', peers: [] })
    assert.equal(err.code, 'E_AUTH')
    assert.match(
      err.message,
      /the peer that has it \(10\.0\.0\.6:1\) announced the plain transport but its server speaks the encrypted one/,
    )
    assert.doesNotMatch(err.message, /6\.6\.6\.6|\u001b/)
  })

  it("an E_AUTH frame inside an encrypted session is no sign of a plain server (a review: any peer could send one): the race's own error", () => {
    const failures = new RaceFailures()
    failures.record(errorFromResponse({ code: 'E_AUTH', message: 'no' }), { address: '10.0.0.9', port: 47010 })
    const err = failures.lost(id, { ours: 'encrypted', peers: [] })
    assert.equal(err.code, 'E_NOT_FOUND')
    assert.doesNotMatch(err.message, /transport/)
  })

  it('peers that only announce the other transport (a claim any host can forge): E_NOT_FOUND kept, exit 3, with what they say, escaped, and no advice to change transport', () => {
    const failures = new RaceFailures()
    const passedOver = ['10.0.0.5:47010', '\u001b[31mred:1', '10.0.0.8:2', '10.0.0.9:3']
    const err = failures.lost(id, { ours: 'encrypted', peers: passedOver })
    assert.equal(err.code, 'E_NOT_FOUND')
    assert.equal(err.exitCode, 3)
    assert.match(
      err.message,
      /in time: is a seeder running\? \(4 peers that have it \(10\.0\.0\.5:47010, \\x1b\[31mred:1, 10\.0\.0\.8:2 and 1 more\) announce the plain transport, this download speaks the encrypted one: check which --transport your seeder runs \(an announcement's transport can be forged\)\)$/,
    )
    assert.doesNotMatch(err.message, /\u001b/)
    // With a server proven to speak the other transport too, that is E_AUTH.
    failures.record(new P2PError('E_AUTH', 'answered in the plain protocol', { plain: true }), {
      address: '10.0.0.7',
      port: 9,
    })
    assert.equal(failures.lost(id, { ours: 'encrypted', peers: passedOver }).code, 'E_AUTH')
  })

  it('a peer busy or unreachable still ends E_NO_PEER (run again later); refused manifest bytes E_BAD_MANIFEST', () => {
    const busy = new RaceFailures()
    busy.record(new P2PError('E_BUSY', 'peer: at its limit'), { address: '10.0.0.2', port: 1 })
    assert.equal(busy.lost(id, { ours: 'encrypted', peers: ['10.0.0.5:47010'] }).code, 'E_NO_PEER')
    const bad = new RaceFailures()
    bad.record(new P2PError('E_BAD_MANIFEST', 'bad paths'), { address: '10.0.0.2', port: 1 })
    assert.equal(bad.lost(id, { ours: 'encrypted', peers: ['10.0.0.5:47010'] }).code, 'E_BAD_MANIFEST')
  })
})
