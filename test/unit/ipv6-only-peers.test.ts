import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Announcement } from '../../src/core/discovery/announcement.js'
import { ContentDictionary } from '../../src/core/discovery/dictionary.js'

const FILE = {
  id: '1'.padStart(64, '0'),
  name: 'f',
  size: 4096,
  chunks: 1,
  have: 'all' as const,
  from: 0,
}
const announce = (peer: string, port: number, holds = true): Announcement => ({
  type: 'announce',
  peer,
  port,
  files: holds ? [FILE] : [],
})
const IPV4 = ['10.0.0.1', '10.0.0.2']
const IPV6 = ['fe80::1%eth0', 'fd00::2']
const STALE_MS = 15_000

describe('peers heard over IPv6 alone (whether bursts for changes must reach the IPv6 groups)', () => {
  it('a peer heard over both families does not count, one heard over IPv6 alone does, until heard over IPv4 too', () => {
    const d = new ContentDictionary()
    d.merge(announce('both', 1), '10.0.0.1', 0)
    d.merge(announce('both', 1), 'fe80::1%eth0', 0)
    assert.equal(d.hearsIpv6OnlyPeer(), false)
    d.merge(announce('v6only', 1), 'fd00::2', 1)
    assert.equal(d.hearsIpv6OnlyPeer(), true)
    d.merge(announce('v6only', 1), '10.0.0.2', 2)
    assert.equal(d.hearsIpv6OnlyPeer(), false)
    // Its IPv4 announcements stop: once that address goes stale, it is an IPv6-only peer again.
    d.merge(announce('v6only', 1), 'fd00::2', STALE_MS)
    d.merge(announce('both', 1), '10.0.0.1', STALE_MS)
    d.merge(announce('both', 1), 'fe80::1%eth0', STALE_MS)
    d.expire(STALE_MS + 3, STALE_MS)
    assert.equal(d.hearsIpv6OnlyPeer(), true)
  })

  it('our own announcements heard back over IPv6 do not count', () => {
    const d = new ContentDictionary()
    d.merge(announce('me', 1), 'fd00::2', 0)
    assert.equal(d.hearsIpv6OnlyPeer('me'), false)
    assert.equal(d.hearsIpv6OnlyPeer(), true)
  })

  it('agrees with a model of the peers heard, over any sequence of announcements, goodbyes and expiries', () => {
    const op = fc.record({
      peer: fc.constantFrom('me', 'pa', 'pb', 'pc'),
      address: fc.constantFrom(...IPV4, ...IPV6),
      port: fc.integer({ min: 1, max: 2 }),
      kind: fc.constantFrom('announce', 'announce', 'goodbye', 'expire'),
      after: fc.integer({ min: 0, max: 8000 }),
    })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const d = new ContentDictionary()
        // The model: what was last heard at each address and port, and when (a goodbye counts from that peer id only).
        const heard = new Map<string, { peer: string; address: string; at: number }>()
        let now = 0
        for (const o of ops) {
          now += o.after
          const key = `${o.address} ${o.port}`
          if (o.kind === 'expire') {
            d.expire(now, STALE_MS)
            for (const [k, h] of heard) if (h.at < now - STALE_MS) heard.delete(k)
          } else if (o.kind === 'goodbye') {
            d.merge(announce(o.peer, o.port, false), o.address, now)
            if (heard.get(key)?.peer === o.peer) heard.delete(key)
          } else {
            d.merge(announce(o.peer, o.port), o.address, now)
            heard.set(key, { peer: o.peer, address: o.address, at: now })
          }
          const others = [...heard.values()].filter((h) => h.peer !== 'me')
          const overIpv4 = new Set(others.filter((h) => IPV4.includes(h.address)).map((h) => h.peer))
          const expected = others.some((h) => IPV6.includes(h.address) && !overIpv4.has(h.peer))
          assert.equal(d.hearsIpv6OnlyPeer('me'), expected, JSON.stringify([...heard.values()]))
        }
      }),
      { numRuns: 300 },
    )
  })
})
