import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import type { Announcement } from '../../src/core/discovery/announcement.js'
import { directedBroadcast, resolveBroadcast } from '../../src/core/discovery/broadcast.js'
import { ContentDictionary } from '../../src/core/discovery/dictionary.js'
import { toSnapshot } from '../../src/core/discovery/dictionary-file.js'

const id = (n: number): string => n.toString(16).padStart(64, '0')
const announce = (peer: string, port: number, files: number[], have: 'all' | Bitfield = 'all'): Announcement => ({
  type: 'announce', peer, port, files: files.map((n) => ({ id: id(n), name: `f${n}`, size: 4 * 4096, chunks: 4, have, from: 0 })),
})

describe('content dictionary', () => {
  it('records the source address, never one from the payload, and merges peers per file', () => {
    const d = new ContentDictionary()
    d.merge(announce('p1p1p1p1', 5000, [1, 2]), '10.0.0.1', 1000)
    d.merge(announce('p2p2p2p2', 5000, [2]), '10.0.0.2', 1000)
    assert.deepEqual(d.file(id(2))!.peers.map((p) => p.address).sort(), ['10.0.0.1', '10.0.0.2'])
    const json = toSnapshot(d.files(), { now: 2000, wallNow: 2000 })
    assert.equal(json.files[id(1)]!.peers[0]!.have, 'all')
    assert.equal(json.files[id(1)]!.peers[0]!.lastSeen, new Date(1000).toISOString())
  })

  it('expires a peer not heard from for staleAfter, and a goodbye removes it at once', () => {
    const d = new ContentDictionary()
    d.merge(announce('p1p1p1p1', 1, [1]), '10.0.0.1', 0)
    d.merge(announce('p2p2p2p2', 1, [1]), '10.0.0.2', 0)
    d.merge(announce('p2p2p2p2', 1, [1]), '10.0.0.2', 10_000)
    assert.ok(d.expire(15_001, 15_000))
    assert.deepEqual(d.file(id(1))!.peers.map((p) => p.address), ['10.0.0.2'])
    assert.ok(d.merge(announce('p2p2p2p2', 1, []), '10.0.0.2', 10_001))
    assert.equal(d.fileCount, 0)
  })

  it('stays within its caps under a flood of fake peers and files, evicting the oldest', () => {
    const d = new ContentDictionary({ maxPeers: 100, maxFiles: 50, maxPeersPerFile: 10 })
    for (let i = 0; i < 10_000; i++) d.merge(announce(`fake${i}xxxx`, 1 + (i % 60000), [i % 500]), '10.9.9.9', i)
    assert.ok(d.peerCount <= 100)
    assert.ok(d.fileCount <= 50)
    for (const f of d.files()) assert.ok(f.peers.length <= 10)
    // The most recent announcement survived.
    assert.ok(d.file(id(9999 % 500)))
  })

  it('ignores an entry whose size contradicts what is known of that id', () => {
    const d = new ContentDictionary()
    d.merge(announce('p1p1p1p1', 1, [1]), '10.0.0.1', 0)
    const liar = announce('p2p2p2p2', 1, [1])
    liar.files[0]!.size = 999
    d.merge(liar, '10.0.0.2', 0)
    assert.equal(d.file(id(1))!.peers.length, 1)
  })
})

describe('broadcast addresses', () => {
  it('computes directed broadcast addresses', () => {
    assert.equal(directedBroadcast('192.168.1.20', '255.255.255.0'), '192.168.1.255')
    assert.equal(directedBroadcast('10.77.0.5', '255.255.0.0'), '10.77.255.255')
    assert.equal(directedBroadcast('172.16.5.9', '255.255.255.252'), '172.16.5.11')
  })

  it('"auto" takes every up, non-loopback IPv4 interface, once each', () => {
    const iface = (address: string, netmask: string, internal = false, family: 'IPv4' | 'IPv6' = 'IPv4') =>
      ({ address, netmask, family, internal, mac: '00:00:00:00:00:00', cidr: null }) as const
    const interfaces = {
      lo: [iface('127.0.0.1', '255.0.0.0', true)],
      eth0: [iface('192.168.1.20', '255.255.255.0'), iface('fe80::1', 'ffff:ffff:ffff:ffff::', false, 'IPv6')],
      wg0: [iface('10.8.0.2', '255.255.255.0')],
      br0: [iface('192.168.1.30', '255.255.255.0')],
    }
    assert.deepEqual(resolveBroadcast('auto', interfaces as never), ['192.168.1.255', '10.8.0.255'])
    assert.deepEqual(resolveBroadcast(['127.255.255.255', '127.255.255.255']), ['127.255.255.255'])
  })
})
