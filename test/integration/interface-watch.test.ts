import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import type { NetworkInterfaceInfo } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Announcer } from '../../src/core/discovery/announcer.js'
import { watchInterfaces } from '../../src/core/discovery/interface-watch.js'
import { IFF_BROADCAST, IFF_MULTICAST, IFF_UP, type InterfaceSource } from '../../src/core/discovery/interfaces.js'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { resolveReach } from '../../src/core/discovery/reach.js'
import { silentLogger } from '../../src/core/log.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { freeUdpPort } from '../helpers/swarm.js'

/**
 * A daemon started before its address came (DHCP after boot, an IPv4
 * address added beside IPv6) announces on it once it comes: the interfaces
 * are read again (interface-watch.ts). The interface is a stand-in whose
 * address appears while the announcer runs; its broadcast address is
 * loopback's, so the datagrams stay on this host.
 */

const v4 = (address: string, netmask: string): NetworkInterfaceInfo => ({
  address,
  netmask,
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal: false,
  cidr: null,
})

/**
 * Stand-ins on loopback: "eth9" (127.0.0.1/8: broadcast 127.255.255.255) from the start, "eth10"
 * (127.1.0.1/16: broadcast 127.1.255.255, a local address a test socket can bind) once added.
 */
function changingInterfaces(): { source: InterfaceSource; add(): void } {
  const list: NodeJS.Dict<NetworkInterfaceInfo[]> = { eth9: [v4('127.0.0.1', '255.0.0.0')] }
  return {
    source: { addresses: () => ({ ...list }), flags: () => IFF_UP | IFF_BROADCAST | IFF_MULTICAST },
    add: () => {
      list.eth10 = [v4('127.1.0.1', '255.255.0.0')]
    },
  }
}

async function until(check: () => boolean, what: string, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('discovery follows the interfaces', () => {
  it('an announcer and a listener announce and ask on a subnet that came after they started', async (t) => {
    const dir = await tmpDir(t)
    const store = new ChunkStore(join(dir, 'chunks'))
    await store.init()
    await randomFile(join(dir, 'a.bin'), 100)
    await splitFile(join(dir, 'a.bin'), { store, chunkSize: 4096 })
    const udpPort = await freeUdpPort()
    const interfaces = changingInterfaces()
    const settings = { broadcast: 'auto' as const, ipv4: true, ipv6: false, peers: [], udpPort }
    const reach = await resolveReach(settings, { interfaces: interfaces.source })
    assert.deepEqual(reach.broadcast, ['127.255.255.255'])

    const heard: string[] = []
    const ear = createSocket({ type: 'udp4', reuseAddr: true }) // what reaches the new subnet's broadcast address
    ear.on('message', (bytes) => heard.push(bytes.toString('utf8', 0, 60)))
    ear.bind(udpPort, '127.1.255.255')
    await once(ear, 'listening')
    onCleanup(t, () => new Promise<void>((resolve) => ear.close(() => resolve())))

    const announcer = new Announcer({ store, udpPort, tcpPort: 5001, intervalMs: 60_000, ...reach.announcerOptions() })
    onCleanup(t, () => announcer.stop())
    await announcer.start()
    const listener = new DiscoveryListener({ udpPort, staleAfterMs: 60_000, ...reach.listenerOptions() })
    onCleanup(t, () => listener.stop())
    await listener.start()
    listener.query()
    const unwatch = watchInterfaces(
      reach,
      [(r) => announcer.retarget(r.announcerOptions()), (r) => listener.retarget(r.listenerOptions())],
      { everyMs: 50, log: silentLogger() },
    )
    onCleanup(t, unwatch)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(heard.length, 0, 'nothing sent there while there is no such subnet')

    interfaces.add()
    await until(() => heard.some((d) => d.includes('"type":"announce"')), 'an announcement on the new subnet')
    await until(() => heard.some((d) => d.includes('"type":"query"')), 'a query on the new subnet')
    assert.deepEqual(reach.broadcast, ['127.255.255.255', '127.1.255.255'])
  })
})
