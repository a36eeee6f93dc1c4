import assert from 'node:assert/strict'
import type { Socket } from 'node:dgram'
import { describe, it } from 'node:test'
import {
  bindUdp,
  bindUnicastReceivers,
  closeSockets,
  familyOf,
  joinGroups,
  sendDatagram,
} from '../../src/core/discovery/udp-sockets.js'
import { hasCode } from '../../src/core/errors.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { freeUdpPort } from '../helpers/swarm.js'

/**
 * The discovery socket helpers on loopback (multicast is tested only inside
 * the netns topologies: never on a real interface from here).
 */

interface Heard {
  socket: string
  data: string
  from: string
}

async function bound(
  t: Cleanup,
  heard: Heard[],
  name: string,
  family: 4 | 6,
  port: number,
  address?: string,
): Promise<Socket> {
  const socket = await bindUdp({
    family,
    port,
    address,
    reuseAddr: true,
    onMessage: (msg, from) => heard.push({ socket: name, data: msg.toString(), from: from.address }),
    onError: () => undefined,
  })
  onCleanup(t, () => closeSockets([socket]))
  return socket
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 5 s`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('discovery UDP sockets', () => {
  it('unicast to a host address reaches the socket bound to it, not a wildcard socket bound later; broadcast reaches every wildcard socket', async (t) => {
    const port = await freeUdpPort()
    const heard: Heard[] = []
    await bound(t, heard, 'early', 4, port)
    const receivers = await bindUnicastReceivers(['127.0.0.1', '::1'], port, {
      onMessage: (msg, from) => heard.push({ socket: 'unicast', data: msg.toString(), from: from.address }),
      onError: () => undefined,
    })
    onCleanup(t, () => closeSockets(receivers.sockets))
    assert.deepEqual(receivers.failed, [])
    await bound(t, heard, 'late', 4, port)
    await bound(t, heard, 'late6', 6, port)
    const sender4 = await bound(t, [], 'sender', 4, 0, '127.0.0.1')
    const sender6 = await bound(t, [], 'sender6', 6, 0, '::1')
    assert.equal(await sendDatagram(sender4, Buffer.from('broadcast'), port, '127.255.255.255'), undefined)
    assert.equal(await sendDatagram(sender4, Buffer.from('unicast v4'), port, '127.0.0.1'), undefined)
    assert.equal(await sendDatagram(sender6, Buffer.from('unicast v6'), port, '::1'), undefined)
    await until(() => heard.length >= 4, 'four deliveries')
    const by = (data: string): string[] =>
      heard
        .filter((h) => h.data === data)
        .map((h) => h.socket)
        .sort()
    assert.deepEqual(by('unicast v4'), ['unicast'])
    assert.deepEqual(by('unicast v6'), ['unicast'])
    assert.deepEqual(
      by('broadcast'),
      ['early', 'late'],
      'broadcast: every IPv4 wildcard socket, not the address-bound one nor the IPv6 one',
    )
    assert.equal(
      heard.find((h) => h.data === 'unicast v6')!.from,
      '::1',
      'IPv6-only: a real IPv6 source, never a mapped IPv4 one',
    )
  })

  it('an IPv6 socket is IPv6-only: IPv4 datagrams to the port are not its', async (t) => {
    const port = await freeUdpPort()
    const heard: Heard[] = []
    await bound(t, heard, 'v6', 6, port)
    await bound(t, heard, 'v4', 4, port)
    const sender4 = await bound(t, [], 'sender', 4, 0, '127.0.0.1')
    await sendDatagram(sender4, Buffer.from('to v4'), port, '127.0.0.1')
    await until(() => heard.length === 1, 'delivery')
    assert.deepEqual(
      heard.map((h) => h.socket),
      ['v4'],
    )
    assert.equal(familyOf('fe80::1%eth0'), 6)
    assert.equal(familyOf('10.0.0.1'), 4)
  })

  it('a send never throws: port 0, a bad address or a closed socket come back as an error', async (t) => {
    const sender = await bound(t, [], 'sender', 4, 0, '127.0.0.1')
    assert.ok(await sendDatagram(sender, Buffer.from('x'), 0, '127.0.0.1'))
    assert.ok(await sendDatagram(sender, Buffer.from('x'), 9, 'fe80::1%nosuchif'))
    await closeSockets([sender])
    assert.ok(await sendDatagram(sender, Buffer.from('x'), 9, '127.0.0.1'))
    await closeSockets([sender]) // twice: harmless
  })

  it('a port in use without reuse, or an address not on this host, is one E_USAGE line naming it', async (t) => {
    const heard: Heard[] = []
    const taken = await bindUdp({
      family: 4,
      port: 0,
      address: '127.0.0.1',
      reuseAddr: false,
      onMessage: () => undefined,
      onError: () => undefined,
    })
    onCleanup(t, () => closeSockets([taken]))
    const port = taken.address().port
    await assert.rejects(
      bindUdp({
        family: 4,
        port,
        address: '127.0.0.1',
        reuseAddr: false,
        onMessage: () => undefined,
        onError: () => undefined,
      }),
      (err) => hasCode(err, 'E_USAGE') && /UDP 127\.0\.0\.1:\d+: EADDRINUSE/.test((err as Error).message),
    )
    const failed = await bindUnicastReceivers(['192.0.2.77', '2001:db8::77'], port, {
      onMessage: () => undefined,
      onError: () => undefined,
    })
    assert.deepEqual(failed.sockets, [])
    assert.equal(failed.failed.length, 2)
    assert.match(failed.failed[1]!.reason, /\[2001:db8::77\]:\d+: EADDRNOTAVAIL/)
    assert.deepEqual(heard, [])
  })

  it('an interface that does not exist never reaches the kernel: no join, no multicast send (it would pick an interface itself)', async (t) => {
    const socket = await bound(t, [], 'v6', 6, 0, '::1')
    const report = joinGroups(socket, [{ group: 'ff12::7032:7032', interface: 'nosuchif0' }])
    assert.deepEqual(report, { joined: [], failed: [{ interface: 'nosuchif0', reason: 'no such interface' }] })
    const asked: string[] = []
    const err = await sendDatagram(socket, Buffer.from('x'), 9, 'ff12::7032:7032%nosuchif0', (name) => {
      asked.push(name)
      return false
    })
    assert.match(String(err), /needs the zone of an interface/)
    assert.deepEqual(asked, ['nosuchif0'])
    assert.match(
      String(await sendDatagram(socket, Buffer.from('x'), 9, 'ff12::7032:7032')),
      /needs the zone/,
      'a group without a zone is refused too',
    )
  })
})
