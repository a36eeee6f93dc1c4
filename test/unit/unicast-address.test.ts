import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { LocalInterface } from '../../src/core/discovery/interfaces.js'
import { KnownPeers } from '../../src/core/discovery/known-peers.js'
import { parseNamedPeer, resolveNamedPeer } from '../../src/core/discovery/named-peers.js'
import { canonicalAddress, isQueryableAddress, unicastProblem } from '../../src/core/discovery/unicast-address.js'
import { hasCode } from '../../src/core/errors.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'

/** The one check before a unicast query: named peers (--peer) and known peers get the same rules. */

const host: LocalInterface[] = [
  { name: 'lo', flags: 0x9, internal: true, ipv4: [{ address: '127.0.0.1', netmask: '255.0.0.0' }], ipv6: ['::1'] },
  {
    name: 'eth0',
    flags: 0x1003,
    internal: false,
    ipv4: [{ address: '192.168.1.20', netmask: '255.255.255.0' }],
    ipv6: ['fe80::1%eth0'],
  },
]

const never = [
  '255.255.255.255',
  '0.0.0.0',
  '0.1.2.3',
  '224.0.0.1',
  '239.255.255.250',
  '240.0.0.1',
  '::ffff:224.0.0.1',
  '::ffff:0.0.0.0',
  '::',
  'ff02::1',
  'ff12::7032:7032%eth0',
  'fe80::1',
  'fe80::1%nosuch0',
  'fd00::1%eth0',
]

describe('unicast addresses', () => {
  it('canonical forms: IPv6 lower-case and compressed, zone kept; IPv4-mapped as IPv4', () => {
    assert.equal(canonicalAddress('FD00:0:0::20'), 'fd00::20')
    assert.equal(canonicalAddress('FE80:0::1%eth0'), 'fe80::1%eth0')
    assert.equal(canonicalAddress('::ffff:10.0.0.1'), '10.0.0.1')
    assert.equal(canonicalAddress('::FFFF:a00:1'), '10.0.0.1')
    assert.equal(canonicalAddress('192.168.1.20'), '192.168.1.20')
    assert.equal(canonicalAddress('laptop.lan'), 'laptop.lan')
  })

  it('never a broadcast, multicast, reserved or unspecified address, nor a zone that is not here', () => {
    for (const a of never) assert.ok(unicastProblem(a, host) !== undefined, a)
    // Subnet broadcasts of this host's interfaces, in either form.
    for (const a of ['192.168.1.255', '127.255.255.255', '::ffff:192.168.1.255'])
      assert.match(unicastProblem(a, host) ?? '', /broadcast address of a subnet/, a)
    for (const a of [
      '192.168.1.20',
      '192.168.2.255',
      '127.0.0.1',
      '127.0.0.8',
      '10.0.0.1',
      '::1',
      'fd00::20',
      'fe80::1%eth0',
    ])
      assert.equal(unicastProblem(a, host), undefined, a)
    // Without the interfaces: what holds everywhere.
    assert.ok(isQueryableAddress('192.168.1.255') && isQueryableAddress('fe80::1%nosuch0'))
    assert.ok(!isQueryableAddress('255.255.255.255') && !isQueryableAddress('::ffff:224.0.0.1'))
  })

  it('--peer: one E_USAGE line for each, at parse time or at resolution', async () => {
    for (const text of [
      '255.255.255.255',
      '0.0.0.0',
      '224.0.0.1',
      '240.1.2.3:5',
      '::ffff:224.0.0.1',
      '[::]:5',
      'ff02::1',
    ]) {
      assert.throws(
        () => parseNamedPeer(text, 47011),
        (err) => hasCode(err, 'E_USAGE') && !(err as Error).message.includes('\n'),
        text,
      )
    }
    assert.equal(parseNamedPeer('::ffff:10.0.0.1', 1).host, '10.0.0.1')
    for (const text of ['192.168.1.255', 'fe80::1%nosuch0', '127.255.255.255']) {
      await assert.rejects(
        resolveNamedPeer(parseNamedPeer(text, 1), { families: { ipv4: true, ipv6: true }, interfaces: host }),
        (err) => hasCode(err, 'E_USAGE') && !(err as Error).message.includes('\n'),
        text,
      )
    }
    const lookup = (_h: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) =>
      cb(null, [
        { address: '192.168.1.255', family: 4 },
        { address: '::ffff:192.168.1.9', family: 6 },
      ])
    const got = await resolveNamedPeer(parseNamedPeer('nas.lan', 1), {
      families: { ipv4: true, ipv6: true },
      interfaces: host,
      lookup,
    })
    assert.deepEqual(
      got.map((t) => t.address),
      ['192.168.1.9'],
    )
  })

  it('a known peer whose address must not get a query is dropped and counted, the others are queried', async (t) => {
    const dir = await tmpDir(t)
    const known = new KnownPeers(`${dir}/known_peers.json`, { interfaces: () => host, saveDelayMs: 10 })
    onCleanup(t, () => known.close())
    await known.load()
    for (const a of ['192.168.1.255', 'fe80::9%eth1', '192.168.1.9', 'FD00:0:0::9']) known.heard(a, 47011)
    assert.deepEqual(
      known
        .toQuery()
        .map((p) => p.address)
        .sort(),
      ['192.168.1.9', 'fd00::9'],
    )
    assert.equal(known.dropped, 2)
    assert.equal(known.list().length, 2)
  })
})
