import { isIPv4, isIPv6 } from 'node:net'
import { directedBroadcast, type LocalInterface } from './interfaces.js'
import { isLinkLocalV6, isMulticastV6, isValidZone, withoutZone, zoneOf } from './multicast.js'

/**
 * The one check of an address we are about to send a unicast query to (a
 * named peer, a known peer): it must reach one host. Named peers come from
 * the user and known peers from the network, so both get the same rules:
 *
 *   0.0.0.0/8          "this network": not a host
 *   224.0.0.0/3        multicast (224/4) and reserved (240/4), 255.255.255.255 included
 *   subnet broadcast   the directed broadcast of any subnet on a local interface
 *                      (192.168.1.255 on a /24, 127.255.255.255 on lo): every host there
 *   ::ffff:a.b.c.d     checked as the IPv4 address it is
 *   ::, ff00::/8       unspecified, multicast
 *   fe80::/10          needs its zone, and the zone must be an interface of this host
 *
 * Addresses are compared in their canonical form (canonicalAddress): FD00:0:0::20
 * and fd00::20 are one host.
 */

const MAX_ADDRESS_TEXT = 64

/**
 * IPv6 lower-case and compressed (RFC 5952, through the WHATWG URL parser),
 * its zone kept as written; an IPv4-mapped IPv6 address as its IPv4
 * address; anything else unchanged.
 */
export function canonicalAddress(address: string): string {
  const plain = withoutZone(address)
  if (!isIPv6(plain)) return address
  const zone = zoneOf(address)
  const host = new URL(`http://[${plain}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (mapped && zone === undefined) {
    const n = (Number.parseInt(mapped[1]!, 16) << 16) | Number.parseInt(mapped[2]!, 16)
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
  }
  return zone === undefined ? host : `${host}%${zone}`
}

/**
 * Why no unicast query may go to `address`, or undefined when one may. Without
 * `interfaces` only what holds on every host is checked (subnet broadcasts and
 * zones need the host's interfaces).
 */
export function unicastProblem(address: string, interfaces?: readonly LocalInterface[]): string | undefined {
  if (address.length > MAX_ADDRESS_TEXT) return 'not an IP address'
  const canonical = canonicalAddress(address)
  if (isIPv4(canonical)) {
    const first = Number(canonical.split('.')[0])
    if (first === 0) return 'an unspecified address (0.0.0.0/8) is not a host'
    if (first >= 224) return 'a multicast, reserved or broadcast address (224.0.0.0/3) is not a host'
    const broadcast = interfaces?.find((i) => i.ipv4.some((a) => directedBroadcast(a.address, a.netmask) === canonical))
    if (broadcast) return `the broadcast address of a subnet on ${broadcast.name} is not a host`
    return undefined
  }
  const plain = withoutZone(canonical)
  if (!isIPv6(plain)) return 'not an IP address'
  if (plain === '::') return 'the unspecified address is not a host'
  if (isMulticastV6(plain)) return 'a multicast group is not a peer (use --broadcast for groups)'
  const zone = zoneOf(canonical)
  if (!isLinkLocalV6(plain)) return zone === undefined ? undefined : 'only a link-local address takes a zone'
  if (zone === undefined) return 'a link-local address needs its interface, e.g. fe80::1%eth0'
  if (!isValidZone(zone)) return `the zone "${zone}" is not an interface name`
  if (interfaces && !interfaces.some((i) => i.name === zone)) return `there is no interface "${zone}" on this host`
  return undefined
}

export function isQueryableAddress(address: string, interfaces?: readonly LocalInterface[]): boolean {
  return unicastProblem(address, interfaces) === undefined
}
