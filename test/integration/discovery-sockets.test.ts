import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type Datagram,
  DiscoverySockets,
  type DiscoverySocketsOptions,
} from '../../src/core/discovery/discovery-sockets.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { freeUdpPort } from '../helpers/swarm.js'

/** An endpoint's sockets on loopback: who receives what, replies from the receiving socket, families, sync and stop. */

interface Heard {
  data: string
  from: string
  port: number
  d: Datagram
}

async function endpoint(
  t: Cleanup,
  options: Omit<DiscoverySocketsOptions, 'onDatagram'>,
): Promise<{ sockets: DiscoverySockets; heard: Heard[] }> {
  const heard: Heard[] = []
  const sockets = new DiscoverySockets({
    ...options,
    onDatagram: (d) => heard.push({ data: d.bytes.toString(), from: d.from.address, port: d.from.port, d }),
  })
  onCleanup(t, () => sockets.stop())
  await sockets.start()
  return { sockets, heard }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 5 s`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const both = { ipv4: true, ipv6: true }

describe('discovery sockets', () => {
  it('a query to a host address reaches the endpoint bound on it (not a later wildcard), and the reply comes from that address', async (t) => {
    const port = await freeUdpPort()
    const announcer = await endpoint(t, { port, families: both, unicastAddresses: ['127.0.0.1', '::1'] })
    const listener = await endpoint(t, { port, families: both })
    const querier = await endpoint(t, { port: 0, families: both })
    const own = querier.sockets.ports()
    assert.ok(own[4]! > 0 && own[6]! > 0 && own[4] !== port)
    assert.ok(await querier.sockets.send(Buffer.from('q4'), '127.0.0.1', port))
    assert.ok(await querier.sockets.send(Buffer.from('q6'), '::1', port))
    await until(() => announcer.heard.length === 2, 'both queries at the announcer')
    assert.deepEqual(listener.heard, [])
    for (const h of announcer.heard) assert.ok(await h.d.reply(Buffer.from(`answer ${h.data}`)))
    await until(() => querier.heard.length === 2, 'both answers')
    assert.deepEqual(querier.heard.map((h) => [h.data, h.from, h.port]).sort(), [
      ['answer q4', '127.0.0.1', port],
      ['answer q6', '::1', port],
    ])
  })

  it('a broadcast reaches every endpoint on the port', async (t) => {
    const port = await freeUdpPort()
    const a = await endpoint(t, { port, families: both, unicastAddresses: ['127.0.0.1'] })
    const b = await endpoint(t, { port, families: both })
    const sender = await endpoint(t, { port: 0, families: { ipv4: true, ipv6: false } })
    assert.ok(await sender.sockets.send(Buffer.from('hello'), '127.255.255.255', port))
    await until(() => a.heard.length === 1 && b.heard.length === 1, 'broadcast at both')
  })

  it('a family turned off has no socket: nothing goes out or comes in on it', async (t) => {
    const port = await freeUdpPort()
    const v4only = await endpoint(t, {
      port,
      families: { ipv4: true, ipv6: false },
      unicastAddresses: ['127.0.0.1', '::1'],
    })
    assert.equal(v4only.sockets.has(6), false)
    assert.equal(await v4only.sockets.send(Buffer.from('x'), '::1', port), false)
    const v6only = await endpoint(t, { port: 0, families: { ipv4: false, ipv6: true } })
    assert.equal(await v6only.sockets.send(Buffer.from('x'), '127.0.0.1', port), false)
    assert.ok(
      await v6only.sockets.send(Buffer.from('to v6'), '::1', port),
      'nobody listens on ::1 there, but the send itself goes',
    )
  })

  it('sync: an address that went away stops being bound (unicast to it falls to the wildcard socket)', async (t) => {
    const port = await freeUdpPort()
    const announcer = await endpoint(t, { port, families: both, unicastAddresses: ['127.0.0.1', '::1'] })
    const querier = await endpoint(t, { port: 0, families: both })
    await announcer.sockets.sync([], ['127.0.0.1'])
    const listener = await endpoint(t, { port, families: both }) // the last wildcard on the port
    await querier.sockets.send(Buffer.from('to v6'), '::1', port)
    await querier.sockets.send(Buffer.from('to v4'), '127.0.0.1', port)
    await until(() => announcer.heard.length + listener.heard.length === 2, 'both delivered')
    assert.deepEqual(
      announcer.heard.map((h) => h.data),
      ['to v4'],
    )
    assert.deepEqual(
      listener.heard.map((h) => h.data),
      ['to v6'],
    )
  })

  it('after stop: sends are refused and nothing more is handed on', async (t) => {
    const port = await freeUdpPort()
    const a = await endpoint(t, { port, families: both })
    const sender = await endpoint(t, { port: 0, families: both })
    await a.sockets.stop()
    await a.sockets.stop()
    assert.equal(await a.sockets.send(Buffer.from('x'), '127.0.0.1', port), false)
    await sender.sockets.send(Buffer.from('late'), '127.0.0.1', port)
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(a.heard, [])
  })

  it('a port held without address reuse: IPv4 failing to bind is an E_USAGE error', async (t) => {
    const holder = await endpoint(t, { port: 0, families: { ipv4: true, ipv6: false } })
    const port = holder.sockets.ports()[4]!
    const s = new DiscoverySockets({ port, families: both, onDatagram: () => undefined })
    onCleanup(t, () => s.stop())
    await assert.rejects(s.start(), (err) => (err as { code?: string }).code === 'E_USAGE')
  })
})
