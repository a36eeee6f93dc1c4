import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressKey } from '../../src/core/transfer/admission.js'

/** --max-connections-per-address counts per host: what one host is, per kind of address. */

describe('addressKey', () => {
  it('IPv4 (and IPv4-mapped IPv6) by address', () => {
    assert.equal(addressKey('192.168.1.20'), '192.168.1.20')
    assert.equal(addressKey('::ffff:192.168.1.20'), '192.168.1.20')
    assert.equal(addressKey(undefined), '?')
  })

  it('global IPv6 by /64: one host cannot take more by taking more addresses', () => {
    assert.equal(addressKey('2001:db8:1:2::5'), addressKey('2001:db8:1:2:aaaa::9'))
    assert.notEqual(addressKey('2001:db8:1:2::5'), addressKey('2001:db8:1:3::5'))
  })

  it('link-local and unique-local IPv6 by full address and zone: the hosts of one LAN do not share a limit', () => {
    assert.notEqual(addressKey('fe80::1%eth0'), addressKey('fe80::2%eth0'))
    assert.notEqual(addressKey('fe80::1%eth0'), addressKey('fe80::1%eth1'))
    assert.equal(addressKey('fe80::1%eth0'), addressKey('fe80:0:0:0:0:0:0:1%eth0'))
    assert.notEqual(addressKey('fd00::20'), addressKey('fd00::21'))
    assert.notEqual(addressKey('fc00::20'), addressKey('fc00::21'))
    assert.equal(addressKey('FD00:0::20'), addressKey('fd00::20'))
  })

  it("a DHT peer (dht:<peer ID>) is its own host: the manifest race's turns are per peer (fourth attacker pass: 47 of 64 shared one)", () => {
    const a = 'dht:TB5Y5BZ-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG'
    const b = 'dht:QMFHUH7-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG'
    assert.equal(addressKey(a), a)
    assert.notEqual(addressKey(a), addressKey(b))
    assert.equal(addressKey('localhost'), 'localhost')
  })
})
