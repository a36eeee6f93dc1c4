import { readFileSync } from 'node:fs'
import { isIPv4 } from 'node:net'
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os'
import {
  DISCOVERY_GROUP_V6,
  isLinkLocalV6,
  isMulticastV6,
  isValidZone,
  withoutZone,
  withZone,
  zoneOf,
} from './multicast.js'

/**
 * The host's interfaces, and where discovery datagrams go on them.
 *
 * os.networkInterfaces() lists the addresses of interfaces that are up and
 * running, but not their flags: whether an interface can broadcast or
 * multicast comes from /sys/class/net/<name>/flags (Linux; the netdevice(7)
 * IFF_* bits). Where that cannot be read the interface is taken as capable
 * (the kernel refuses a send that cannot work; nothing worse happens).
 *
 * "auto" means: the directed broadcast address of every IPv4 subnet on an
 * interface that broadcasts (as Syncthing does), and the IPv6 group on every
 * multicast-capable interface with IPv6 enabled. An explicit list is used as
 * given and adds nothing: `--broadcast 127.255.255.255` never reaches a real
 * interface's IPv6 group.
 */

export const IFF_UP = 0x1
export const IFF_BROADCAST = 0x2
export const IFF_LOOPBACK = 0x8
export const IFF_POINTOPOINT = 0x10
export const IFF_MULTICAST = 0x1000

export const LIMITED_BROADCAST = '255.255.255.255'

export interface LocalInterface {
  name: string
  /** IFF_* bits; undefined when they cannot be read. */
  flags: number | undefined
  internal: boolean
  ipv4: Array<{ address: string; netmask: string }>
  /** Link-local ones with their zone (fe80::1%eth0). */
  ipv6: string[]
}

export interface InterfaceSource {
  addresses(): NodeJS.Dict<NetworkInterfaceInfo[]>
  flags(name: string): number | undefined
}

export const systemInterfaces: InterfaceSource = {
  addresses: () => networkInterfaces(),
  flags: (name) => {
    if (!/^[^/\0]{1,15}$/.test(name) || name === '.' || name === '..') return undefined
    try {
      const value = Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'ascii').trim(), 16)
      return Number.isInteger(value) ? value : undefined
    } catch {
      return undefined // not Linux, or a /sys mounted for another namespace
    }
  },
}

export function listInterfaces(source: InterfaceSource = systemInterfaces): LocalInterface[] {
  const out: LocalInterface[] = []
  for (const [name, infos] of Object.entries(source.addresses())) {
    const list = infos ?? []
    out.push({
      name,
      flags: source.flags(name),
      internal: list.some((i) => i.internal),
      ipv4: list.filter((i) => i.family === 'IPv4').map((i) => ({ address: i.address, netmask: i.netmask })),
      ipv6: list
        .filter((i) => i.family === 'IPv6')
        .map((i) => (isLinkLocalV6(i.address) ? withZone(i.address, name) : i.address)),
    })
  }
  return out
}

/** Where one burst of discovery datagrams goes. */
export interface DiscoveryTargets {
  /** IPv4 broadcast (or unicast) addresses. */
  ipv4: string[]
  /** IPv6 destinations, each with its zone when link-scoped (ff12::7032:7032%eth0). */
  ipv6: string[]
  /** Interfaces whose IPv6 group a receiver joins. */
  groups: Array<{ group: string; interface: string }>
}

export interface FamilyOptions {
  ipv4: boolean
  ipv6: boolean
}

const has = (flags: number | undefined, bits: number): boolean => flags === undefined || (flags & bits) === bits

function broadcastCapable(i: LocalInterface): boolean {
  return (
    !i.internal && has(i.flags, IFF_UP | IFF_BROADCAST) && (i.flags === undefined || (i.flags & IFF_LOOPBACK) === 0)
  )
}

/** Up, multicast-capable, not loopback, with IPv6 enabled (it has an address, at least its link-local one), and a name Node can use as a zone. */
export function multicastCapable(i: LocalInterface): boolean {
  return (
    isValidZone(i.name) &&
    !i.internal &&
    has(i.flags, IFF_UP | IFF_MULTICAST) &&
    (i.flags === undefined || (i.flags & IFF_LOOPBACK) === 0) &&
    i.ipv6.length > 0
  )
}

/**
 * `setting` resolved against the interfaces: "auto" as described above; a list
 * as given, except that an IPv6 group given without a zone goes out on every
 * multicast-capable interface. A family turned off contributes nothing.
 * "auto" on a host with no interface for either family falls back to the
 * limited broadcast address (when IPv4 is on).
 */
export function discoveryTargets(
  setting: 'auto' | readonly string[],
  interfaces: LocalInterface[],
  families: FamilyOptions,
): DiscoveryTargets {
  const ipv4 = new Set<string>()
  const ipv6 = new Set<string>()
  const groups = new Map<string, { group: string; interface: string }>()
  const joinEverywhere = (group: string): void => {
    for (const i of interfaces.filter(multicastCapable)) joinOn(group, i.name)
  }
  const joinOn = (group: string, name: string): void => {
    ipv6.add(withZone(group, name))
    groups.set(`${group}%${name}`, { group, interface: name })
  }
  if (setting === 'auto') {
    if (families.ipv4) {
      for (const i of interfaces.filter(broadcastCapable)) {
        for (const a of i.ipv4) {
          const broadcast = directedBroadcast(a.address, a.netmask)
          if (broadcast !== undefined) ipv4.add(broadcast)
        }
      }
    }
    if (families.ipv6) joinEverywhere(DISCOVERY_GROUP_V6)
    if (families.ipv4 && ipv4.size === 0 && ipv6.size === 0) ipv4.add(LIMITED_BROADCAST)
  } else {
    for (const address of setting) {
      if (isIPv4(address)) {
        if (families.ipv4) ipv4.add(address)
      } else if (families.ipv6) {
        const zone = zoneOf(address)
        if (isMulticastV6(address)) {
          if (zone === undefined) joinEverywhere(withoutZone(address))
          else joinOn(withoutZone(address), zone)
        } else {
          ipv6.add(address)
        }
      }
    }
  }
  return { ipv4: [...ipv4], ipv6: [...ipv6], groups: [...groups.values()] }
}

/**
 * address | ~netmask (192.168.1.20/255.255.255.0 → 192.168.1.255); undefined
 * for a /31 or /32, which have no broadcast address (RFC 3021).
 */
export function directedBroadcast(address: string, netmask: string): string | undefined {
  const a = address.split('.').map(Number)
  const m = netmask.split('.').map(Number)
  if (a.length !== 4 || m.length !== 4) return undefined
  if (a.some((o) => !(o >= 0 && o <= 255)) || m.some((o) => !(o >= 0 && o <= 255))) return undefined
  const hostBits = m.reduce((bits, octet) => bits + popcount(~octet & 255), 0)
  if (hostBits < 2) return undefined
  return a.map((octet, i) => (octet | (~m[i]! & 255)) >>> 0).join('.')
}

function popcount(byte: number): number {
  let n = 0
  for (let b = byte; b > 0; b >>= 1) n += b & 1
  return n
}

/**
 * The host's own unicast addresses (link-local ones with their zone), loopback
 * included: a socket bound to one of them receives the unicast datagrams sent
 * to it before any socket bound to the wildcard address does.
 */
export function localAddresses(interfaces: LocalInterface[], families: FamilyOptions): string[] {
  const out: string[] = []
  for (const i of interfaces) {
    if (i.flags !== undefined && (i.flags & IFF_UP) === 0) continue
    if (families.ipv4) out.push(...i.ipv4.map((a) => a.address))
    if (families.ipv6) out.push(...i.ipv6.filter((a) => !isLinkLocalV6(a) || isValidZone(i.name)))
  }
  return [...new Set(out)]
}

/**
 * Every IPv6 address this host answers to, as the kernel lists them (Linux's /proc/net/if_inet6 and anycast6),
 * canonical, without zones: also those os.networkInterfaces() leaves out (an interface without carrier, the
 * subnet-router anycast address a forwarding host takes). Empty where they cannot be read.
 */
export function kernelIpv6Addresses(read: (path: string) => string = (p) => readFileSync(p, 'ascii')): Set<string> {
  const out = new Set<string>()
  for (const [path, column] of [
    ['/proc/net/if_inet6', 0],
    ['/proc/net/anycast6', 2],
  ] as const) {
    let text = ''
    try {
      text = read(path)
    } catch {
      continue
    }
    for (const line of text.split('\n')) {
      const hex = line.trim().split(/\s+/)[column]
      if (hex === undefined || !/^[0-9a-f]{32}$/.test(hex)) continue
      const groups = hex.match(/.{4}/g)!.join(':')
      out.add(new URL(`http://[${groups}]/`).hostname.slice(1, -1))
    }
  }
  return out
}
