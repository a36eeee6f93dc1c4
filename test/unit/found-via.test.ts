import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pathsAdvice, SourceClassifier } from '../../src/core/discovery/found-via.js'

describe('how a peer was found', () => {
  it('named beats known beats the family', () => {
    const c = new SourceClassifier()
    c.addNamed(['10.0.0.2', 'FD00::2'])
    c.addKnown(['10.0.0.2', '10.0.0.3', 'fe80::3%eth0'])
    assert.equal(c.via('10.0.0.2'), 'peer')
    assert.equal(c.via('fd00::2'), 'peer', 'IPv6 compares without case')
    assert.equal(c.via('10.0.0.3'), 'known')
    assert.equal(c.via('fe80::3%eth0'), 'known')
    assert.equal(c.via('fe80::3%eth1'), 'ipv6', 'the same link-local address on another link is another host')
    assert.equal(c.via('10.0.0.4'), 'broadcast')
    assert.equal(c.via('fd00::4'), 'ipv6')
  })

  it('addresses compare in canonical form, however they were written', () => {
    const c = new SourceClassifier()
    c.addNamed(['FD00:0:0::20', '::ffff:10.0.0.7'])
    c.addKnown(['FE80:0:0::3%eth0'])
    assert.equal(c.via('fd00::20'), 'peer')
    assert.equal(c.via('10.0.0.7'), 'peer')
    assert.equal(c.via('fe80::3%eth0'), 'known')
    assert.equal(c.via('fd00::21'), 'ipv6')
  })

  it('the advice names every path tried and what to do, in one line', () => {
    const none = pathsAdvice({
      broadcast: ['10.0.0.255'],
      ipv6: ['eth0', 'wlan0'],
      named: [],
      unresolved: [],
      known: 0,
      udpPort: 47011,
    })
    assert.equal(
      none,
      'tried IPv4 broadcast to 10.0.0.255; IPv6 group ff12::7032:7032 on eth0, wlan0; no known peers. If the seeder is on another subnet, behind a router or an access point that isolates clients, name it with --peer HOST (or P2P_PEERS); check that the firewall on both hosts lets UDP port 47011 in',
    )
    const named = pathsAdvice({
      broadcast: [],
      ipv6: [],
      named: ['nas.lan', '10.1.0.5:5000'],
      unresolved: [{ peer: 'typo.lan', reason: 'no such host' }],
      known: 3,
      udpPort: 5000,
    })
    assert.match(
      named,
      /^tried named peers nas\.lan, 10\.1\.0\.5:5000; not resolved: typo\.lan; 3 known peers\. Check that the named hosts run/,
    )
    assert.ok(!named.includes('\n'))
    // A peer named with its port is asked there: the advice names no other port for it (it named ours).
    assert.match(named, /on the UDP port named with each \(5000 where none is\) and that their firewalls let it in$/)
    const hinted = pathsAdvice({
      broadcast: [],
      ipv6: [],
      named: ['127.0.0.1:47398'],
      unresolved: [],
      known: 0,
      udpPort: 47399,
    })
    assert.ok(!hinted.includes('47399'), hinted)
    const portless = pathsAdvice({
      broadcast: [],
      ipv6: [],
      named: ['nas.lan'],
      unresolved: [],
      known: 0,
      udpPort: 47399,
    })
    assert.match(portless, /run p2p-announce \(or p2p share\) on UDP port 47399 and that the firewall on both hosts/)
    const many = pathsAdvice({
      broadcast: Array.from({ length: 9 }, (_, i) => `10.${i}.0.255`),
      ipv6: [],
      named: [],
      unresolved: [],
      known: 1,
      udpPort: 1,
    })
    assert.match(many, /10\.3\.0\.255 and 5 more; 1 known peer\./)
  })
})
