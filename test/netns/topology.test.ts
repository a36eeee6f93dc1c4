import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { DISCOVERY_GROUP_V6 } from '../../src/core/discovery/multicast.js'
import { discoveryTopology } from './discovery-topology.js'
import { netnsAvailable } from './harness.js'
import type { Probe } from './probe-client.js'
import { nftAvailable, Topology } from './topology.js'

/**
 * The topologies do what they claim, proved with real datagrams (the probe
 * agent, which uses the discovery socket helpers): broadcast and multicast
 * reach every host of a plain bridge but not across the dropping bridge nor
 * the router, while unicast does; IPv6-only hosts find each other through
 * the group and talk TCP over link-local addresses with their zone; a
 * multi-homed host reaches both sides; a socket bound to a host address gets
 * the unicast datagrams a later wildcard socket would take. Negative checks
 * wait for a unicast datagram sent after the one that must not arrive, on
 * the same path: once it is there, the other would have been too.
 */

const skip = netnsAvailable() ?? (nftAvailable() ? undefined : 'nft (nftables) not available')
const PORT = 47611
const GROUP = DISCOVERY_GROUP_V6

describe('netns topologies (harness)', { skip }, () => {
  let net: Topology
  let root: string

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'p2p-topo-'))
    net = await Topology.create(root, discoveryTopology(78, { lan: true, routedIPv6: true }))
  })
  afterEach(async () => {
    await net?.reset()
  })
  after(async () => {
    await net?.destroy()
    await rm(root, { recursive: true, force: true })
  })

  /** A probe on `host` with an IPv4 socket 'v4' and an IPv6 socket 'v6' on PORT, the latter in the group on every link. */
  async function listening(host: string, options: { ipv4?: boolean } = {}): Promise<Probe> {
    const h = net.host(host)
    const probe = await h.probe()
    if (options.ipv4 !== false) await probe.request({ op: 'bind', name: 'v4', family: 4, port: PORT })
    const bound = await probe.request({
      op: 'bind',
      name: 'v6',
      family: 6,
      port: PORT,
      join: h.links.map((l) => ({ group: GROUP, interface: l.name })),
    })
    assert.deepEqual(bound.failed, [], `${host} joins the group`)
    return probe
  }

  async function send(probe: Probe, socket: 'v4' | 'v6', to: string, data: string): Promise<void> {
    const sent = await probe.request({ op: 'send', name: socket, to, port: PORT, data })
    assert.equal(sent.error, undefined, `send ${data} to ${to}`)
  }

  it('a plain bridge carries broadcast, the IPv6 group and unicast', async () => {
    const [a1, a2] = await Promise.all([listening('a1'), listening('a2')])
    await send(a1, 'v4', '10.78.1.255', 'broadcast')
    await send(a1, 'v6', `${GROUP}%eth0`, 'multicast')
    await send(a1, 'v4', '10.78.1.2', 'unicast')
    const b = await a2.waitFor((m) => m.data === 'broadcast', 'broadcast on a plain bridge')
    assert.equal(b.from, '10.78.1.1')
    const m = await a2.waitFor((x) => x.data === 'multicast', 'multicast on a plain bridge')
    assert.equal(m.from, 'fe80::1:1%eth0', 'the source is link-local, with the zone it came in on')
    await a2.waitFor((x) => x.data === 'unicast', 'unicast')
    // Multicast loops back to the sender's own joined socket (another process on the host hears it too).
    await a1.waitFor((x) => x.data === 'multicast', 'multicast loopback')
  })

  it('the dropping bridge stops broadcast and multicast datagrams; unicast (and ARP / neighbour discovery) pass', async () => {
    const [i1, i2] = await Promise.all([listening('i1'), listening('i2')])
    const before = net.dropped('iso')
    await send(i1, 'v4', '10.78.3.255', 'broadcast')
    await send(i1, 'v6', `${GROUP}%eth0`, 'multicast')
    await send(i1, 'v4', '10.78.3.2', 'unicast v4')
    await send(i1, 'v6', 'fd78:0:0:3::2', 'unicast v6')
    await i2.waitFor((m) => m.data === 'unicast v4', 'IPv4 unicast across the dropping bridge')
    await i2.waitFor((m) => m.data === 'unicast v6', 'IPv6 unicast across the dropping bridge')
    assert.deepEqual(i2.messages.map((m) => m.data).sort(), ['unicast v4', 'unicast v6'])
    assert.ok(net.dropped('iso') >= before + 2, 'the drop rule counted them')
  })

  it('a router forwards unicast between its subnets, but no directed broadcast and no link-scoped multicast', async () => {
    const [l1, r1] = await Promise.all([listening('l1'), listening('r1')])
    await send(l1, 'v4', '10.78.5.255', 'directed broadcast')
    await send(l1, 'v6', `${GROUP}%eth0`, 'multicast')
    await send(l1, 'v4', '10.78.5.1', 'unicast v4')
    await send(l1, 'v6', 'fd78:0:0:5::1', 'unicast v6')
    const v4 = await r1.waitFor((m) => m.data === 'unicast v4', 'IPv4 unicast through the router')
    assert.equal(v4.from, '10.78.4.1')
    await r1.waitFor((m) => m.data === 'unicast v6', 'IPv6 unicast through the router')
    assert.deepEqual(r1.messages.map((m) => m.data).sort(), ['unicast v4', 'unicast v6'])
  })

  it('IPv6-only hosts: no IPv4, the group found through "auto", unicast to a link-local source with its zone, TCP over it', async () => {
    const [s1, s2] = await Promise.all([listening('s1', { ipv4: false }), listening('s2', { ipv4: false })])
    const found = (await s1.request({ op: 'interfaces' })) as {
      auto: { ipv4: string[]; ipv6: string[] }
      interfaces: Array<{ name: string; ipv4: unknown[] }>
    }
    assert.deepEqual(found.interfaces.find((i) => i.name === 'eth0')!.ipv4, [])
    assert.deepEqual(found.auto, { ipv4: [], ipv6: [`${GROUP}%eth0`], groups: [{ group: GROUP, interface: 'eth0' }] })
    await send(s1, 'v6', found.auto.ipv6[0]!, 'query')
    const query = await s2.waitFor((m) => m.data === 'query', 'multicast between IPv6-only hosts')
    assert.equal(query.from, 'fe80::5:1%eth0')
    await send(s2, 'v6', query.from, 'answer') // back to the link-local source, zone included
    await s1.waitFor((m) => m.data === 'answer', 'unicast to a link-local address')
    const listen = await s2.request({ op: 'tcpListen', host: '::' })
    const tcp = await s1.request({ op: 'tcpConnect', host: 'fe80::5:2%eth0', port: listen.port })
    assert.equal(
      tcp.data,
      'from fe80::5:2%eth0 to fe80::5:1%eth0',
      'Node gives link-local socket addresses with their zone',
    )
    const ula = await s1.request({ op: 'tcpConnect', host: 'fd78:0:0:6::2', port: listen.port })
    assert.equal(ula.data, 'from fd78:0:0:6::2 to fd78:0:0:6::1')
  })

  it('a multi-homed host reaches both sides, each at its own address there; the sides do not reach each other', async () => {
    const [m, x, y] = await Promise.all([listening('m'), listening('x'), listening('y')])
    await send(m, 'v6', `${GROUP}%eth0`, 'to ma')
    await send(m, 'v6', `${GROUP}%eth1`, 'to mb')
    assert.equal((await x.waitFor((d) => d.data === 'to ma', 'group on eth0')).from, 'fe80::6:10%eth0')
    assert.equal((await y.waitFor((d) => d.data === 'to mb', 'group on eth1')).from, 'fe80::7:10%eth0')
    await send(x, 'v4', '10.78.7.10', 'from x')
    await send(y, 'v4', '10.78.8.10', 'from y')
    await m.waitFor((d) => d.data === 'from x' && d.from === '10.78.7.1', 'x to m')
    await m.waitFor((d) => d.data === 'from y' && d.from === '10.78.8.1', 'y to m')
    assert.equal(x.received('to mb').length + y.received('to ma').length, 0)
    const across = await x.request({ op: 'send', name: 'v4', to: '10.78.8.1', port: PORT, data: 'across' })
    assert.match(String(across.error), /ENETUNREACH/)
  })

  it('a socket bound to a host address gets the unicast datagrams to it even when a wildcard socket binds the port later; broadcast reaches every wildcard socket', async () => {
    const [a1, a2] = await Promise.all([listening('a1'), net.host('a2').probe()])
    await a2.request({ op: 'bind', name: 'early', family: 4, port: PORT })
    const h = net.host('a2')
    const receivers = await a2.request({
      op: 'bindUnicast',
      name: 'unicast',
      port: PORT,
      addresses: [h.links[0]!.ipv4, h.links[0]!.ipv6, h.links[0]!.linkLocal],
    })
    assert.deepEqual(receivers.failed, [])
    await a2.request({ op: 'bind', name: 'late', family: 4, port: PORT })
    await a2.request({ op: 'bind', name: 'late6', family: 6, port: PORT })
    await send(a1, 'v4', '10.78.1.255', 'broadcast')
    await send(a1, 'v4', '10.78.1.2', 'unicast v4')
    await send(a1, 'v6', 'fd78:0:0:1::2', 'unicast ula')
    await send(a1, 'v6', 'fe80::1:2%eth0', 'unicast link-local')
    for (const data of ['unicast v4', 'unicast ula', 'unicast link-local']) {
      const got = await a2.waitFor((d) => d.data === data, data)
      assert.equal(got.name, 'unicast', `${data} reached the address-bound socket`)
    }
    await a2.waitFor((d) => d.data === 'broadcast' && d.name === 'late', 'broadcast to the late wildcard socket')
    await a2.waitFor((d) => d.data === 'broadcast' && d.name === 'early', 'broadcast to the early wildcard socket')
    assert.deepEqual(
      a2.messages
        .filter((d) => d.name === 'unicast')
        .map((d) => d.data)
        .sort(),
      ['unicast link-local', 'unicast ula', 'unicast v4'],
    )
  })

  it('leaves no namespace behind', async () => {
    const prefix = net.prefix
    await net.destroy()
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(prefix))
  })
})
