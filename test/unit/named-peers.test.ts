import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  DEFAULT_RESOLVE_TIMEOUT_MS,
  type Lookup,
  MAX_ADDRESSES_PER_NAME,
  MAX_NAMED_PEERS,
  parseNamedPeer,
  parseNamedPeers,
  resolveNamedPeer,
  resolveNamedPeers,
} from '../../src/core/discovery/named-peers.js'
import { hasCode } from '../../src/core/errors.js'

const both = { ipv4: true, ipv6: true }
const usage = (err: unknown): boolean => hasCode(err, 'E_USAGE')

/** A resolver that answers from a table (nothing goes to the network). */
function table(entries: Record<string, string[]>, calls: string[] = []): Lookup {
  return (host, _options, callback) => {
    calls.push(host)
    setImmediate(() => {
      const found = entries[host]
      if (!found) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), [])
      else
        callback(
          null,
          found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
        )
    })
  }
}

describe('named peers: parsing', () => {
  it('reads every form', () => {
    const p = (text: string) => {
      const { host, port, literal } = parseNamedPeer(text, 47011)
      return [host, port, literal]
    }
    assert.deepEqual(p('laptop.lan'), ['laptop.lan', 47011, false])
    assert.deepEqual(p('Laptop.LAN.:5000'), ['laptop.lan.', 5000, false])
    assert.deepEqual(p('localhost'), ['localhost', 47011, false])
    assert.deepEqual(p(' 192.168.1.20:47012 '), ['192.168.1.20', 47012, true])
    assert.deepEqual(p('127.0.0.1'), ['127.0.0.1', 47011, true])
    assert.deepEqual(p('[fd00::20]:6000'), ['fd00::20', 6000, true])
    assert.deepEqual(p('[fd00::20]'), ['fd00::20', 47011, true])
    assert.deepEqual(p('fd00::20'), ['fd00::20', 47011, true])
    assert.deepEqual(p('fe80::1%eth0'), ['fe80::1%eth0', 47011, true])
    assert.deepEqual(p('[fe80::1%enp3s0.100]:7'), ['fe80::1%enp3s0.100', 7, true])
    assert.deepEqual(p('my_host-1'), ['my_host-1', 47011, false])
  })

  it('refuses with one E_USAGE line what is not a peer', () => {
    for (const text of [
      '',
      '  ',
      'host:',
      'host:0',
      'host:65536',
      'host:-1',
      'host:12a',
      'host:1:2',
      '[fd00::1',
      'fd00::1]',
      '[fd00::1]:',
      '[10.0.0.1]:5',
      'fe80::1',
      '[fe80::1]:5',
      'fe80::1%',
      'fe80::1%br_lan',
      'fe80::1%eth0/x',
      'ff12::7032:7032%eth0',
      '[ff02::1%eth0]:5',
      '::gg',
      '999.1.1.1',
      '10.1',
      '-host',
      'host-',
      'a..b',
      `${'a'.repeat(64)}.lan`,
      `${'a.'.repeat(130)}lan`,
      'http://host',
      'user@host',
      'host name',
      'host/path',
      'h\u00e9',
      'host\u0000',
      'x'.repeat(301),
    ]) {
      assert.throws(
        () => parseNamedPeer(text, 47011),
        (err) =>
          usage(err) && (err as Error).message.startsWith('invalid peer') && !(err as Error).message.includes('\n'),
        JSON.stringify(text),
      )
    }
  })

  it('lists: comma-separated or repeated, trimmed, duplicates dropped, bounded', () => {
    const peers = parseNamedPeers(['a.lan, b.lan:5', 'a.lan', '', '10.0.0.1,10.0.0.1:47011'], 47011)
    assert.deepEqual(
      peers.map((p) => `${p.host}:${p.port}`),
      ['a.lan:47011', 'b.lan:5', '10.0.0.1:47011'],
    )
    assert.deepEqual(parseNamedPeers('', 47011), [])
    const many = Array.from({ length: MAX_NAMED_PEERS + 1 }, (_, i) => `h${i}.lan`)
    assert.equal(parseNamedPeers(many.slice(0, MAX_NAMED_PEERS), 1).length, MAX_NAMED_PEERS)
    assert.throws(
      () => parseNamedPeers(many, 1),
      (err) => usage(err) && /too many peers/.test((err as Error).message),
    )
  })

  it('any text either parses to a usable host and port or is one E_USAGE error (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[\w.:[\]%-]{0,40}$/)), (text) => {
        try {
          const p = parseNamedPeer(text, 47011)
          assert.ok(p.port >= 1 && p.port <= 65535 && p.host.length > 0 && !/[\s[\]/@]/.test(p.host))
        } catch (err) {
          assert.ok(usage(err), String(err))
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('named peers: resolution', () => {
  it('a name resolves to all its addresses of the families that are on', async () => {
    const lookup = table({ 'nas.lan': ['192.168.1.5', 'fd00::5', '192.168.1.5'] })
    const peer = parseNamedPeer('nas.lan:5000', 47011)
    assert.deepEqual(await resolveNamedPeer(peer, { families: both, lookup }), [
      { address: '192.168.1.5', port: 5000, name: 'nas.lan:5000' },
      { address: 'fd00::5', port: 5000, name: 'nas.lan:5000' },
    ])
    assert.deepEqual(
      (await resolveNamedPeer(peer, { families: { ipv4: false, ipv6: true }, lookup })).map((t) => t.address),
      ['fd00::5'],
    )
    await assert.rejects(
      resolveNamedPeer(parseNamedPeer('fd00::9', 1), { families: { ipv4: true, ipv6: false }, lookup }),
      (err) => usage(err) && /no usable IPv4 address/.test((err as Error).message),
    )
  })

  it('an address literal is not looked up', async () => {
    const calls: string[] = []
    const got = await resolveNamedPeer(parseNamedPeer('[fe80::1%eth0]:9', 1), {
      families: both,
      interfaces: [{ name: 'eth0', flags: undefined, internal: false, ipv4: [], ipv6: ['fe80::2%eth0'] }],
      lookup: table({}, calls),
    })
    assert.deepEqual(got, [{ address: 'fe80::1%eth0', port: 9, name: '[fe80::1%eth0]:9' }])
    assert.deepEqual(calls, [])
  })

  it('a name that does not resolve is a clear error naming it', async () => {
    await assert.rejects(
      resolveNamedPeer(parseNamedPeer('nosuch.lan', 1), { families: both, lookup: table({}) }),
      (err) => usage(err) && (err as Error).message === 'cannot resolve peer "nosuch.lan": no such host',
    )
  })

  it('a resolver that never answers: an error at the deadline, not a hang', async () => {
    const never: Lookup = () => undefined
    const started = performance.now()
    await assert.rejects(
      resolveNamedPeer(parseNamedPeer('slow.lan', 1), { families: both, lookup: never, timeoutMs: 200 }),
      (err) => usage(err) && /did not answer within 200 ms/.test((err as Error).message),
    )
    const took = performance.now() - started
    assert.ok(took >= 190 && took < 2000, `${took} ms`)
    assert.ok(DEFAULT_RESOLVE_TIMEOUT_MS <= 5000)
  })

  it('a resolver that throws, or answers junk, costs nothing more than an error or a filtered address', async () => {
    const throws: Lookup = () => {
      throw new Error('boom')
    }
    await assert.rejects(
      resolveNamedPeer(parseNamedPeer('x.lan', 1), { families: both, lookup: throws }),
      (err) => usage(err) && /boom/.test((err as Error).message),
    )
    const junk = table({ 'j.lan': ['fe80::1', 'ff02::1', 'not-an-address', '10.0.0.1'] })
    assert.deepEqual(
      (await resolveNamedPeer(parseNamedPeer('j.lan', 1), { families: both, lookup: junk })).map((t) => t.address),
      ['10.0.0.1'],
    )
  })

  it('a name with a hundred addresses is reached at its first few only', async () => {
    const many = Array.from({ length: 100 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
    const got = await resolveNamedPeer(parseNamedPeer('big.lan', 1), {
      families: both,
      lookup: table({ 'big.lan': many }),
    })
    assert.deepEqual(
      got.map((t) => t.address),
      many.slice(0, MAX_ADDRESSES_PER_NAME),
    )
  })

  it('several at once: failures reported one by one, the rest resolved, duplicates merged', async () => {
    const lookup = table({ 'a.lan': ['10.0.0.1'], 'b.lan': ['10.0.0.1', '10.0.0.2'] })
    const r = await resolveNamedPeers(parseNamedPeers('a.lan,b.lan,c.lan', 47011), { families: both, lookup })
    assert.deepEqual(
      r.targets.map((t) => t.address),
      ['10.0.0.1', '10.0.0.2'],
    )
    assert.deepEqual(r.failed, [{ peer: 'c.lan', reason: 'cannot resolve peer "c.lan": no such host' }])
  })

  it('the system resolver: localhost resolves (from the hosts file, no network)', async () => {
    const got = await resolveNamedPeer(parseNamedPeer('localhost', 47011), { families: both })
    assert.ok(got.length > 0 && got.every((t) => t.address === '127.0.0.1' || t.address === '::1'), JSON.stringify(got))
  })
})
