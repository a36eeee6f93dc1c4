import { isIPv4 } from 'node:net'
import { kernelIpv6Addresses, type LocalInterface } from './interfaces.js'
import { withoutZone } from './multicast.js'
import { familyOf } from './udp-sockets.js'
import { canonicalAddress, unicastProblem } from './unicast-address.js'

/**
 * Which query sources an announcer's unicast answer may go to (query-answerer.ts): one host, not a broadcast
 * address or a group, and not this host itself.
 */

export interface HostAddressOptions {
  /** The host's interfaces: a source that is a subnet's broadcast address is refused. */
  interfaces?: () => readonly LocalInterface[]
  /** The host's own addresses: an IPv6 source that is one of them is refused. */
  unicastAddresses?: readonly string[]
}

export class UnicastSources {
  private ownIpv6 = { at: Number.NEGATIVE_INFINITY, addresses: new Set<string>() }

  constructor(
    private readonly options: HostAddressOptions,
    private readonly announcer: {
      /** Where its bursts of `family` go (its broadcast addresses or IPv6 groups). */
      burstTargets(family: 4 | 6): Array<[string, number]>
    },
  ) {}

  /**
   * A source no unicast answer may go to: not one host (unicastProblem: the broadcast address of any subnet on
   * this host's interfaces included), one of our own broadcast addresses, or one of this host's own IPv6
   * addresses but ::1 (Linux takes an IPv6 packet from the wire whose source is ours, where IPv4 drops it as a
   * martian: an attacker pass had answers sent to a port of this very host).
   */
  notOneHost(address: string): boolean {
    if (unicastProblem(address, this.options.interfaces?.()) !== undefined) return true
    const canonical = canonicalAddress(address)
    if (this.announcer.burstTargets(familyOf(canonical)).some(([target]) => target === canonical)) return true
    if (isIPv4(canonical) || canonical === '::1') return false
    if ((this.options.unicastAddresses ?? []).some((own) => canonicalAddress(own) === canonical)) return true
    return this.kernelIpv6().has(withoutZone(canonical))
  }

  /** The kernel's own IPv6 addresses, read at most every 5 s (an attack on the fix had answers sent to an anycast one). */
  private kernelIpv6(): Set<string> {
    const now = Date.now()
    if (now - this.ownIpv6.at > 5_000) this.ownIpv6 = { at: now, addresses: kernelIpv6Addresses() }
    return this.ownIpv6.addresses
  }
}
