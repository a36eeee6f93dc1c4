import { execFileSync } from 'node:child_process'
import { inNs, tbf } from './harness.js'
import type { HostSpec, TopoHost, Topology, TopologySpec } from './topology.js'

/**
 * Two sites behind NATs, for the DHT tests (issue 20), on topology.ts:
 *
 *      site A 10.<net>.1.0/24            "public" 10.<net>.100.0/24            site B 10.<net>.2.0/24
 *   a1 .1 ──┐                      ┌── d1 .11  d2 .12  d3 .13 (DHT nodes) ──┐                  ┌── b1 .1
 *           ├─ ra .254 ═NAT═ .1 ───┤                                        ├─── .2 ═NAT═ rb .254 ┼── b2 .2
 *                                  └────────────────────────────────────────┘                  └── b3 .3
 *
 * Each router masquerades what leaves a site through its public link
 * (nftables, `nat postrouting`) and lets in from the public side only what
 * answers a flow the site started (`ct state established,related`): a
 * stranger on the public side cannot open anything towards a site host, as
 * behind a home router. Linux keeps a flow's source port where it can, so
 * the NAT is "consistent" (the same public port towards every peer): what
 * hole punching needs. Site hosts reach the public subnet through their
 * router, nothing of the other site (its subnet is not routed). The DHT
 * nodes are `p2p dht-node` processes on d1-d3, the only bootstrap any
 * command is given.
 */

export const SITE_HOSTS = { a: ['a1'], b: ['b1', 'b2', 'b3'] } as const
export const DHT_NODES = ['d1', 'd2', 'd3'] as const

/**
 * `cable`: site A's router reaches the public segment over a cable holding
 * each frame `delayMs` each way and losing `lossPercent` of them (wire.ts).
 */
export function twoSitesTopology(net: number, cable?: { delayMs: number; lossPercent?: number }): TopologySpec {
  const v4 = (x: number): string => `10.${net}.${x}`
  const on = (name: string, bridge: string, n: number): HostSpec => ({ name, links: [{ bridge, n }] })
  return {
    bridges: [
      { name: 'a', ipv4: v4(1) },
      { name: 'b', ipv4: v4(2) },
      { name: 'pub', ipv4: v4(100) },
    ],
    hosts: [
      {
        name: 'ra',
        router: true,
        links: [
          { bridge: 'a', n: 254 },
          { bridge: 'pub', n: 1, ...cable },
        ],
      },
      {
        name: 'rb',
        router: true,
        links: [
          { bridge: 'b', n: 254 },
          { bridge: 'pub', n: 2 },
        ],
      },
      ...DHT_NODES.map((d, i) => on(d, 'pub', 11 + i)),
      ...SITE_HOSTS.a.map((h, i) => on(h, 'a', i + 1)),
      ...SITE_HOSTS.b.map((h, i) => on(h, 'b', i + 1)),
    ],
  }
}

/** Make `router` a NAT: masquerade out of its `outside` link, let in only what answers a flow from `inside`. */
export function natRouter(router: TopoHost, inside: string, outside: string): void {
  const lan = router.on(inside).name
  const wan = router.on(outside).name
  execFileSync('ip', ['netns', 'exec', router.ns, 'nft', '-f', '-'], {
    input: `table ip p2pnat {
  chain forward {
    type filter hook forward priority 0; policy drop;
    iifname "${lan}" oifname "${wan}" accept
    iifname "${wan}" oifname "${lan}" ct state established,related accept
    counter
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "${wan}" ct state established,related accept
    iifname "${wan}" counter drop
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "${wan}" masquerade
  }
}
`,
    stdio: ['pipe', 'ignore', 'pipe'],
  })
}

/**
 * Open `port` of the router's public address to `to` inside (a port forward,
 * as a user sets one up for a server): the benchmark's direct path between
 * the sites. After natRouter() (its forward chain drops what it does not accept).
 */
export function portForward(
  router: TopoHost,
  outside: string,
  port: number,
  to: string,
  protocol: 'tcp' | 'udp' = 'tcp',
): void {
  const wan = router.on(outside).name
  execFileSync('ip', ['netns', 'exec', router.ns, 'nft', '-f', '-'], {
    input: `table ip p2pforward {
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    iifname "${wan}" ${protocol} dport ${port} dnat to ${to}
  }
}
insert rule ip p2pnat forward iifname "${wan}" ip daddr ${to} ${protocol} dport ${port} ct status dnat accept
`,
    stdio: ['pipe', 'ignore', 'pipe'],
  })
}

/** Packets a NAT router dropped (unsolicited, from the public side: to a site host or to itself). */
export function natDropped(router: TopoHost): number {
  const text = router.exec('nft', 'list', 'table', 'ip', 'p2pnat')
  return [...text.matchAll(/counter packets (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
}

/** Both routers NATs; their public links and which host is which. */
export function twoSites(net: Topology): { ra: TopoHost; rb: TopoHost } {
  const ra = net.host('ra')
  const rb = net.host('rb')
  natRouter(ra, 'a', 'pub')
  natRouter(rb, 'b', 'pub')
  return { ra, rb }
}

/** Shape what `host` sends on its link to `bridge` (harness.ts tbf); undefined lifts it. */
export function shapeLink(host: TopoHost, bridge: string, rate: string | undefined): void {
  const dev = host.on(bridge).name
  if (rate === undefined) {
    try {
      inNs(host.ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root')
    } catch {
      /* none */
    }
    return
  }
  inNs(host.ns, ...tbf(dev, rate))
}
