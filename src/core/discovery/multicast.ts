import { isIPv6 } from 'node:net'

/**
 * The IPv6 multicast group discovery uses, and how an address is tied to one
 * interface.
 *
 * ff12::7032:7032 — flags 1 (T: a transient group, which IANA never
 * assigns, so no registered group can be this one), scope 2 (link-local:
 * routers never forward it, like IPv4 broadcast). Syncthing chose the same
 * shape (ff12::8384). The group id spells "p2p2" in ASCII; its Ethernet
 * address is 33:33:70:32:70:32. Another program that picked the same
 * transient group would only send us datagrams that fail validation and are
 * counted as drops.
 *
 * A link-scoped group exists once per link, so every send names its
 * interface: the destination carries it as a zone (ff12::7032:7032%eth0),
 * which the kernel uses as the outgoing interface. That is one system call
 * per datagram with no shared state; setMulticastInterface() before a send
 * would race with sends still queued on the socket.
 */

export const DISCOVERY_GROUP_V6 = 'ff12::7032:7032'

/**
 * A zone Node can use: an interface name of letters, digits, '.' and '-' (at
 * most 15 bytes, Linux's limit). Node reads an address with another zone as a
 * host name, and libuv maps a zone to an interface by name only, so an
 * interface named otherwise (br_lan) cannot carry link-scoped traffic from
 * Node: discovery leaves it out.
 */
const ZONE = /^[A-Za-z0-9.-]{1,15}$/

export function isValidZone(zone: string): boolean {
  return ZONE.test(zone)
}

/** `address%zone`, for a link-scoped address (link-local unicast, or a link-scoped group) on one interface. */
export function withZone(address: string, zone: string): string {
  return `${withoutZone(address)}%${zone}`
}

export function withoutZone(address: string): string {
  const at = address.indexOf('%')
  return at < 0 ? address : address.slice(0, at)
}

export function zoneOf(address: string): string | undefined {
  const at = address.indexOf('%')
  return at < 0 ? undefined : address.slice(at + 1)
}

/** fe80::/10: valid only together with the interface it was seen on. */
export function isLinkLocalV6(address: string): boolean {
  const plain = withoutZone(address)
  return isIPv6(plain) && /^fe[89ab][0-9a-f]:/i.test(plain)
}

/** A multicast address (ff00::/8) whose scope does not reach past one link (interface- or link-local). */
export function isLinkScopedGroup(address: string): boolean {
  const plain = withoutZone(address)
  return isIPv6(plain) && /^ff[0-9a-f][12]:/i.test(plain)
}

export function isMulticastV6(address: string): boolean {
  const plain = withoutZone(address)
  return isIPv6(plain) && /^ff[0-9a-f]{2}:/i.test(plain)
}
