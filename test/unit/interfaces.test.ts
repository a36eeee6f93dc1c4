import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  directedBroadcast,
  discoveryTargets,
  IFF_BROADCAST,
  IFF_LOOPBACK,
  IFF_MULTICAST,
  IFF_POINTOPOINT,
  IFF_UP,
  type InterfaceSource,
  kernelIpv6Addresses,
  LIMITED_BROADCAST,
  type LocalInterface,
  listInterfaces,
  localAddresses,
} from '../../src/core/discovery/interfaces.js'
import {
  DISCOVERY_GROUP_V6,
  isLinkLocalV6,
  isLinkScopedGroup,
  isMulticastV6,
  isValidZone,
  withoutZone,
  withZone,
  zoneOf,
} from '../../src/core/discovery/multicast.js'

const ETHER = IFF_UP | IFF_BROADCAST | IFF_MULTICAST // 0x1003, what an Ethernet or Wi-Fi interface shows
const both = { ipv4: true, ipv6: true }

/** What os.networkInterfaces() and /sys say on a laptop with Wi-Fi, a VPN, a container bridge and a bridge with an unusable name. */
const laptop: InterfaceSource = {
  addresses: () => ({
    lo: [
      {
        address: '127.0.0.1',
        netmask: '255.0.0.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: true,
        cidr: '127.0.0.1/8',
      },
      {
        address: '::1',
        netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
        family: 'IPv6',
        mac: '00:00:00:00:00:00',
        internal: true,
        cidr: '::1/128',
        scopeid: 0,
      },
    ],
    wlan0: [
      {
        address: '192.168.1.20',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: 'aa:bb:cc:dd:ee:ff',
        internal: false,
        cidr: '192.168.1.20/24',
      },
      {
        address: 'fd00::20',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: 'aa:bb:cc:dd:ee:ff',
        internal: false,
        cidr: 'fd00::20/64',
        scopeid: 0,
      },
      {
        address: 'fe80::a8bb:ccff:fedd:eeff',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: 'aa:bb:cc:dd:ee:ff',
        internal: false,
        cidr: 'fe80::a8bb:ccff:fedd:eeff/64',
        scopeid: 3,
      },
    ],
    wg0: [
      {
        address: '10.8.0.2',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: false,
        cidr: '10.8.0.2/24',
      },
    ],
    docker0: [
      {
        address: '172.17.0.1',
        netmask: '255.255.0.0',
        family: 'IPv4',
        mac: '02:42:00:00:00:01',
        internal: false,
        cidr: '172.17.0.1/16',
      },
    ],
    br_lan: [
      {
        address: '10.9.0.1',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: '02:42:00:00:00:02',
        internal: false,
        cidr: '10.9.0.1/24',
      },
      {
        address: 'fe80::2',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: '02:42:00:00:00:02',
        internal: false,
        cidr: 'fe80::2/64',
        scopeid: 7,
      },
    ],
    ptp0: [
      {
        address: '10.10.0.1',
        netmask: '255.255.255.255',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: false,
        cidr: '10.10.0.1/32',
      },
    ],
  }),
  flags: (name) =>
    ({
      lo: IFF_UP | IFF_LOOPBACK,
      wlan0: ETHER,
      wg0: IFF_UP | IFF_POINTOPOINT | 0x80,
      docker0: ETHER,
      br_lan: ETHER,
      ptp0: ETHER,
    })[name],
}

describe('the IPv6 group and zones', () => {
  it('the group is link-scoped and transient (ff12::/16: never assigned by IANA, never routed)', () => {
    assert.ok(DISCOVERY_GROUP_V6.startsWith('ff12:'))
    assert.ok(isLinkScopedGroup(DISCOVERY_GROUP_V6) && isMulticastV6(DISCOVERY_GROUP_V6))
    assert.ok(!isLinkScopedGroup('ff15::1') && isMulticastV6('ff15::1'))
    assert.ok(!isMulticastV6('fe80::1') && !isMulticastV6('10.0.0.1'))
  })

  it('reads and writes zones', () => {
    assert.equal(withZone('fe80::1', 'eth0'), 'fe80::1%eth0')
    assert.equal(withZone('fe80::1%wlan0', 'eth0'), 'fe80::1%eth0')
    assert.equal(withoutZone('fe80::1%eth0'), 'fe80::1')
    assert.equal(zoneOf('fe80::1%eth0'), 'eth0')
    assert.equal(zoneOf('fd00::1'), undefined)
    assert.ok(
      isLinkLocalV6('fe80::1%eth0') &&
        isLinkLocalV6('FEBF::1') &&
        !isLinkLocalV6('fec0::1') &&
        !isLinkLocalV6('fe8::1'),
    )
    assert.ok(isValidZone('eth0') && isValidZone('enp3s0.100') && isValidZone('br-1a2b'))
    assert.ok(!isValidZone('br_lan') && !isValidZone('') && !isValidZone('a'.repeat(16)) && !isValidZone('eth0/x'))
  })
})

describe('interfaces and discovery targets', () => {
  const interfaces = listInterfaces(laptop)

  it('lists every interface with its flags; link-local addresses carry their zone', () => {
    const wlan = interfaces.find((i) => i.name === 'wlan0')!
    assert.equal(wlan.flags, ETHER)
    assert.deepEqual(wlan.ipv6, ['fd00::20', 'fe80::a8bb:ccff:fedd:eeff%wlan0'])
    assert.ok(interfaces.find((i) => i.name === 'lo')!.internal)
  })

  it('auto: every broadcasting IPv4 subnet, and the group on every multicast-capable IPv6 interface', () => {
    const t = discoveryTargets('auto', interfaces, both)
    // wg0 is point-to-point (no broadcast), ptp0 a /32, lo internal.
    assert.deepEqual(t.ipv4.sort(), ['10.9.0.255', '172.17.255.255', '192.168.1.255'])
    // docker0 has no IPv6 (disabled there); br_lan's name cannot be a zone in Node.
    assert.deepEqual(t.ipv6, [`${DISCOVERY_GROUP_V6}%wlan0`])
    assert.deepEqual(t.groups, [{ group: DISCOVERY_GROUP_V6, interface: 'wlan0' }])
  })

  it('auto with a family off', () => {
    assert.deepEqual(discoveryTargets('auto', interfaces, { ipv4: false, ipv6: true }).ipv4, [])
    const v4 = discoveryTargets('auto', interfaces, { ipv4: true, ipv6: false })
    assert.deepEqual([v4.ipv6, v4.groups], [[], []])
  })

  it('auto on a host with nothing but loopback falls back to the limited broadcast (IPv4 on), else sends nowhere', () => {
    const lonely = interfaces.filter((i) => i.name === 'lo')
    assert.deepEqual(discoveryTargets('auto', lonely, both).ipv4, [LIMITED_BROADCAST])
    assert.deepEqual(discoveryTargets('auto', lonely, { ipv4: false, ipv6: true }), { ipv4: [], ipv6: [], groups: [] })
    // An IPv6-only host: the group, and no pointless limited broadcast.
    const v6only = interfaces.filter((i) => i.name === 'wlan0').map((i) => ({ ...i, ipv4: [] }))
    assert.deepEqual(discoveryTargets('auto', v6only, both).ipv4, [])
  })

  it("an explicit list is used as given and never adds the IPv6 group (the tests' 127.255.255.255 stays on loopback)", () => {
    assert.deepEqual(discoveryTargets(['127.255.255.255', '127.255.255.255'], interfaces, both), {
      ipv4: ['127.255.255.255'],
      ipv6: [],
      groups: [],
    })
  })

  it('an explicit IPv6 group: with a zone on that interface only, without one on every capable interface', () => {
    const one = discoveryTargets([`${DISCOVERY_GROUP_V6}%veth7`], interfaces, both)
    assert.deepEqual(one, {
      ipv4: [],
      ipv6: [`${DISCOVERY_GROUP_V6}%veth7`],
      groups: [{ group: DISCOVERY_GROUP_V6, interface: 'veth7' }],
    })
    const every = discoveryTargets(['ff12::1234', '10.0.0.255'], interfaces, both)
    assert.deepEqual(every.ipv6, ['ff12::1234%wlan0'])
    assert.deepEqual(
      discoveryTargets(['ff12::1234', 'fd00::7', '10.0.0.255'], interfaces, { ipv4: true, ipv6: false }).ipv6,
      [],
    )
    assert.deepEqual(discoveryTargets(['fd00::7'], interfaces, both).ipv6, ['fd00::7'])
  })

  it('flags that cannot be read count as capable (the kernel refuses what cannot work)', () => {
    const unknown = listInterfaces({ addresses: laptop.addresses, flags: () => undefined })
    assert.ok(discoveryTargets('auto', unknown, both).ipv4.includes('10.8.0.255'))
    assert.deepEqual(
      discoveryTargets('auto', unknown, both).groups.map((g) => g.interface),
      ['wlan0'],
    )
  })

  it("the system source works here (no assertion on what it finds: that is the machine's)", () => {
    for (const i of listInterfaces()) assert.equal(typeof i.name, 'string')
  })

  it("local addresses: every up interface's, link-local with zone, by family", () => {
    const all = localAddresses(interfaces, both)
    assert.ok(
      all.includes('127.0.0.1') &&
        all.includes('::1') &&
        all.includes('fe80::a8bb:ccff:fedd:eeff%wlan0') &&
        all.includes('fd00::20'),
    )
    assert.ok(!all.includes('fe80::2%br_lan'), 'a zone Node cannot use is left out')
    assert.ok(localAddresses(interfaces, { ipv4: true, ipv6: false }).every((a) => !a.includes(':')))
    const down: LocalInterface[] = interfaces.map((i) => ({ ...i, flags: 0 }))
    assert.deepEqual(localAddresses(down, both), [])
  })

  it('directed broadcast: address | ~netmask; none for /31 and /32', () => {
    assert.equal(directedBroadcast('192.168.1.20', '255.255.255.0'), '192.168.1.255')
    assert.equal(directedBroadcast('10.77.0.5', '255.255.0.0'), '10.77.255.255')
    assert.equal(directedBroadcast('172.16.5.9', '255.255.255.252'), '172.16.5.11')
    assert.equal(directedBroadcast('172.16.5.9', '255.255.255.254'), undefined)
    assert.equal(directedBroadcast('172.16.5.9', '255.255.255.255'), undefined)
    assert.equal(directedBroadcast('garbage', '255.255.255.0'), undefined)
  })

  it('directed broadcast keeps the network bits and sets every host bit (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 30 }), (addr, prefix) => {
        const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
        const dotted = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.')
        const expected = dotted(((addr & mask) | (~mask >>> 0)) >>> 0)
        assert.equal(directedBroadcast(dotted(addr), dotted(mask)), expected)
      }),
    )
  })

  it('lists the kernel’s own IPv6 addresses, anycast ones too, canonical; nothing where /proc cannot be read', () => {
    const files: Record<string, string> = {
      '/proc/net/if_inet6': [
        '00000000000000000000000000000001 01 80 10 80       lo',
        'fe8000000000000000fc00fffe000001 04 40 20 80     eth0',
        'fddead00000000000000000000000001 05 40 00 80   nocarr',
        'garbage',
      ].join('\n'),
      '/proc/net/anycast6': '2    eth0     fd000001000000000000000000000000     1\n',
    }
    const read = (path: string): string => {
      const text = files[path]
      if (text === undefined) throw new Error('ENOENT')
      return text
    }
    assert.deepEqual([...kernelIpv6Addresses(read)].sort(), ['::1', 'fd00:1::', 'fdde:ad00::1', 'fe80::fc:ff:fe00:1'])
    assert.deepEqual(
      [
        ...kernelIpv6Addresses(() => {
          throw new Error('no /proc')
        }),
      ],
      [],
    )
  })
})
