import type { BridgeSpec, HostSpec, TopologySpec } from './topology.js'

/**
 * The networks the discovery paths are tested on (issue 17), one
 * description shared by topology.test.ts (the network itself) and
 * discovery-paths.test.ts (the commands on it), each on subnets of its own
 * (10.<net>.x.0/24, fd<net>:0:0:x::/64):
 *
 *   iso        i1, i2 on a bridge that drops broadcast and multicast
 *   left|right l1 and r1 on two subnets behind the router r
 *   v6         s1, s2 with IPv6 only (link-local and a ULA)
 *   ma|mb      m on both (multi-homed), x on ma, y on mb
 *   lan        (with `lan`) a1, a2 on a plain bridge
 */
export function discoveryTopology(net: number, options: { lan?: boolean; routedIPv6?: boolean } = {}): TopologySpec {
  const v4 = (x: number): string => `10.${net}.${x}`
  const v6 = (x: number): string => `fd${net}:0:0:${x}`
  const routed = (name: string, x: number): BridgeSpec => ({
    name,
    ipv4: v4(x),
    ...(options.routedIPv6 ? { ipv6: v6(x) } : {}),
  })
  const bridges: BridgeSpec[] = [
    ...(options.lan ? [{ name: 'lan', ipv4: v4(1), ipv6: v6(1) }] : []),
    { name: 'iso', ipv4: v4(3), ipv6: v6(3), drop: true },
    routed('left', 4),
    routed('right', 5),
    { name: 'v6', ipv6: v6(6) },
    { name: 'ma', ipv4: v4(7) },
    { name: 'mb', ipv4: v4(8) },
  ]
  const on = (name: string, bridge: string, n: number): HostSpec => ({ name, links: [{ bridge, n }] })
  const hosts: HostSpec[] = [
    ...(options.lan ? [on('a1', 'lan', 1), on('a2', 'lan', 2)] : []),
    on('i1', 'iso', 1),
    on('i2', 'iso', 2),
    {
      name: 'r',
      router: true,
      links: [
        { bridge: 'left', n: 254 },
        { bridge: 'right', n: 254 },
      ],
    },
    on('l1', 'left', 1),
    on('r1', 'right', 1),
    on('s1', 'v6', 1),
    on('s2', 'v6', 2),
    {
      name: 'm',
      links: [
        { bridge: 'ma', n: 10 },
        { bridge: 'mb', n: 10 },
      ],
    },
    on('x', 'ma', 1),
    on('y', 'mb', 1),
  ]
  return { bridges, hosts }
}
