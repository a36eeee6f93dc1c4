import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { inNs, ip, NAME_ROOT, sweepStale } from './harness.js'
import { Probe } from './probe-client.js'
import { type HostProcess, startCommand } from './processes.js'
import { Wire } from './wire.js'

/**
 * Networks of namespaces for the discovery tests, beyond harness.ts's one
 * bridge: several bridges (each a switch in a namespace of its own), a
 * router between subnets (IP forwarding on; it forwards no broadcast and no
 * link-scoped multicast, as a real one), a bridge that drops every broadcast
 * and multicast datagram (an access point isolating Wi-Fi clients: ARP and
 * neighbour discovery still pass, so unicast works), IPv6-only hosts (a
 * link-local address and a ULA, no IPv4) and multi-homed hosts.
 *
 *   const net = await Topology.create(root, {
 *     bridges: [{ name: 'a', ipv4: '10.78.1', ipv6: 'fd78:0:0:1', drop: true }, { name: 'b', ipv4: '10.78.2' }],
 *     hosts: [{ name: 'seeder', links: [{ bridge: 'a', n: 1 }, { bridge: 'b', n: 1 }] },
 *             { name: 'v6', links: [{ bridge: 'a', n: 2, ipv4: false }] }],
 *   })
 *
 * Addresses on bridge B for host number n: `${B.ipv4}.${n}/24`,
 * `${B.ipv6}::${n}/64` and the link-local fe80::<bridge number>:<n>, all
 * valid at once (duplicate address detection is off: nothing else assigns
 * addresses here). A host's links are eth0, eth1, … in the order given. Hosts
 * route to subnets they are not on through a router they share a bridge
 * with. Bridges do no multicast snooping (a plain switch floods multicast).
 * Nothing but the namespace handles touches the host's namespace; cleanup as
 * harness.ts (per-run prefix, stale runs swept by PID, removed at exit).
 */

export interface BridgeSpec {
  name: string
  /** First three octets of its /24, e.g. '10.78.1'; none: no IPv4 on it. */
  ipv4?: string
  /** Its /64 without the '::', e.g. 'fd78:0:0:1'; none: only link-local IPv6. */
  ipv6?: string
  /** Drop IPv4 broadcast and multicast and IPv6 multicast UDP between its ports. */
  drop?: boolean
}

export interface LinkSpec {
  bridge: string
  /** The host's number on that subnet (1-254). */
  n: number
  /** Default: whatever the bridge has. */
  ipv4?: boolean
  ipv6?: boolean
  /** Frames held this long in each direction (a TAP pair joined by wire.ts) instead of a plain veth pair. */
  delayMs?: number
  /** With delayMs: this share of frames (percent) lost, at random, each way. */
  lossPercent?: number
}

export interface HostSpec {
  name: string
  links: LinkSpec[]
  /** Forwards between its links. */
  router?: boolean
}

export interface TopologySpec {
  bridges: BridgeSpec[]
  hosts: HostSpec[]
}

export interface Link {
  /** Interface name inside the host: eth0, eth1, … */
  name: string
  bridge: string
  ipv4?: string
  ipv6?: string
  /** With its zone: fe80::1:2%eth0. */
  linkLocal: string
}

export interface TopoHost {
  name: string
  ns: string
  dir: string
  links: Link[]
  /** The host's link on `bridge`. */
  on(bridge: string): Link
  /** Bring all links (or one) down or up. */
  link(up: boolean, name?: string): void
  /** Start a built command inside the namespace (chunk store and logs in `dir`). */
  start(name: string, args: string[]): HostProcess
  /** Run a command in the namespace; its stdout. */
  exec(...args: string[]): string
  /** A probe agent in the namespace (probe.ts). */
  probe(): Promise<Probe>
}

export function nftAvailable(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

let serial = 0

export class Topology {
  readonly prefix = `${NAME_ROOT}${process.pid}n${++serial}`
  readonly hosts = new Map<string, TopoHost>()
  private readonly namespaces: string[] = []
  private readonly bridges = new Map<string, { spec: BridgeSpec; ns: string; number: number; ports: number }>()
  private readonly processes = new Set<HostProcess>()
  private readonly probes = new Set<Probe>()
  private readonly wires: Wire[] = []
  private readonly onExit = (): void => this.destroyNow()

  private constructor(private readonly root: string) {}

  static async create(root: string, spec: TopologySpec): Promise<Topology> {
    sweepStale()
    const net = new Topology(root)
    process.on('exit', net.onExit)
    try {
      for (const b of spec.bridges) net.addBridge(b)
      for (const h of spec.hosts) net.hosts.set(h.name, await net.addHost(h))
      net.addRoutes(spec)
    } catch (err) {
      net.destroyNow()
      throw err
    }
    return net
  }

  host(name: string): TopoHost {
    const h = this.hosts.get(name)
    if (!h) throw new Error(`no host ${name}`)
    return h
  }

  /** Packets the drop rule of `bridge` has dropped so far. */
  dropped(bridge: string): number {
    const b = this.bridges.get(bridge)!
    const text = execFileSync('ip', ['netns', 'exec', b.ns, 'nft', 'list', 'table', 'bridge', 'p2ptest'], {
      encoding: 'utf8',
    })
    return [...text.matchAll(/packets (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
  }

  private addNamespace(ns: string): void {
    ip('netns', 'add', ns)
    this.namespaces.push(ns)
  }

  private addBridge(spec: BridgeSpec): void {
    const ns = `${this.prefix}b${spec.name}`
    this.addNamespace(ns)
    // The switch takes no part in IPv6 itself (no addresses, no DAD or MLD of its own); it still forwards it.
    sysctl(ns, { 'net/ipv6/conf/all/disable_ipv6': 1, 'net/ipv6/conf/default/disable_ipv6': 1 })
    batch(ns, ['link add br0 type bridge mcast_snooping 0', 'link set br0 up'])
    if (spec.drop) {
      if (!nftAvailable()) throw new Error('nft (nftables) is needed for a bridge that drops broadcast')
      // ARP and ICMPv6 (neighbour discovery) are not matched: hosts still find each other's MAC, so unicast works.
      execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
        input: `table bridge p2ptest {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ether type ip ether daddr ff:ff:ff:ff:ff:ff counter drop
    ether type ip ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 counter drop
    ether type ip6 ether daddr & ff:ff:00:00:00:00 == 33:33:00:00:00:00 ip6 nexthdr udp counter drop
  }
}
`,
        stdio: ['pipe', 'ignore', 'pipe'],
      })
    }
    this.bridges.set(spec.name, { spec, ns, number: this.bridges.size + 1, ports: 0 })
  }

  private async addHost(spec: HostSpec): Promise<TopoHost> {
    const ns = `${this.prefix}h${spec.name}`
    this.addNamespace(ns)
    sysctl(ns, {
      'net/ipv6/conf/all/accept_dad': 0,
      'net/ipv6/conf/default/accept_dad': 0,
      ...(spec.router ? { 'net/ipv4/ip_forward': 1, 'net/ipv6/conf/all/forwarding': 1 } : {}),
    })
    const links: Link[] = []
    const hostSide: string[] = []
    for (const [i, l] of spec.links.entries()) {
      const bridge = this.bridges.get(l.bridge)
      if (!bridge) throw new Error(`host ${spec.name}: no bridge ${l.bridge}`)
      const name = `eth${i}`
      const port = `p${++bridge.ports}`
      if (l.delayMs === undefined)
        // Made inside the switch's namespace, one end moved into the host's.
        batch(bridge.ns, [`link add ${port} type veth peer name ${name} netns ${ns}`])
      else this.wires.push(await Wire.start({ ns: bridge.ns, dev: port }, { ns, dev: name }, l.delayMs, l.lossPercent))
      batch(bridge.ns, [`link set ${port} master br0`, `link set ${port} up`])
      const link: Link = { name, bridge: l.bridge, linkLocal: `fe80::${bridge.number}:${l.n}%${name}` }
      // No address from the MAC: a fixed link-local one, usable at once.
      hostSide.push(`link set ${name} addrgenmode none`, `addr add fe80::${bridge.number}:${l.n}/64 dev ${name} nodad`)
      if (bridge.spec.ipv4 && l.ipv4 !== false) {
        link.ipv4 = `${bridge.spec.ipv4}.${l.n}`
        hostSide.push(`addr add ${link.ipv4}/24 brd + dev ${name}`)
      }
      if (bridge.spec.ipv6 && l.ipv6 !== false) {
        link.ipv6 = `${bridge.spec.ipv6}::${l.n}`
        hostSide.push(`addr add ${link.ipv6}/64 dev ${name} nodad`)
      }
      hostSide.push(`link set ${name} up`)
      links.push(link)
    }
    batch(ns, [...hostSide, 'link set lo up'])
    const dir = join(this.root, spec.name)
    await mkdir(dir, { recursive: true })
    const host: TopoHost = {
      name: spec.name,
      ns,
      dir,
      links,
      on: (bridge) => {
        const link = links.find((l) => l.bridge === bridge)
        if (!link) throw new Error(`host ${spec.name} is not on bridge ${bridge}`)
        return link
      },
      link: (up, name) =>
        batch(
          ns,
          links
            .filter((l) => name === undefined || l.name === name)
            .map((l) => `link set ${l.name} ${up ? 'up' : 'down'}`),
        ),
      start: (command, args) => {
        const proc = startCommand(ns, dir, command, args)
        this.processes.add(proc)
        return proc
      },
      exec: (...args) =>
        execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      probe: async () => {
        const probe = await Probe.start(ns, dir)
        this.probes.add(probe)
        return probe
      },
    }
    return host
  }

  /** Each host reaches subnets it is not on through a router it shares a bridge with. */
  private addRoutes(spec: TopologySpec): void {
    const routers = spec.hosts.filter((h) => h.router).map((h) => this.host(h.name))
    for (const h of this.hosts.values()) {
      if (routers.includes(h)) continue
      const routes: string[] = []
      for (const r of routers) {
        const shared = h.links.find((l) => r.links.some((rl) => rl.bridge === l.bridge))
        if (!shared) continue
        const gateway = r.on(shared.bridge)
        for (const far of r.links) {
          if (h.links.some((l) => l.bridge === far.bridge)) continue
          const b = this.bridges.get(far.bridge)!.spec
          if (b.ipv4 && gateway.ipv4 && shared.ipv4)
            routes.push(`route add ${b.ipv4}.0/24 via ${gateway.ipv4} dev ${shared.name}`)
          if (b.ipv6) routes.push(`route add ${b.ipv6}::/64 via ${gateway.linkLocal.split('%')[0]} dev ${shared.name}`)
        }
      }
      batch(h.ns, routes)
    }
  }

  /** Stop every process and probe started so far and bring every link up again. */
  async reset(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop()))
    await Promise.all([...this.probes].map((p) => p.stop()))
    this.processes.clear()
    this.probes.clear()
    for (const h of this.hosts.values()) h.link(true)
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop()))
    await Promise.all([...this.probes].map((p) => p.stop()))
    await Promise.all(this.wires.map((w) => w.stop()))
    this.destroyNow()
  }

  private destroyNow(): void {
    for (const p of this.processes) if (p.child.exitCode === null) p.child.kill('SIGKILL')
    for (const p of this.probes) p.kill()
    for (const w of this.wires.splice(0)) w.kill()
    for (const ns of this.namespaces.splice(0)) {
      try {
        ip('netns', 'del', ns)
      } catch {
        /* already gone */
      }
    }
    this.hosts.clear()
    process.off('exit', this.onExit)
  }
}

/** Run `ip` commands in a namespace, in one process (`ip -batch`). */
export function batch(ns: string, commands: string[]): void {
  if (commands.length === 0) return
  execFileSync('ip', ['-n', ns, '-batch', '-'], {
    input: `${commands.join('\n')}\n`,
    stdio: ['pipe', 'ignore', 'pipe'],
  })
}

/** Set sysctls of a namespace (/proc/sys/net is per namespace; `sysctl` itself may be missing). */
export function sysctl(ns: string, values: Record<string, number>): void {
  inNs(
    ns,
    'sh',
    '-c',
    Object.entries(values)
      .map(([key, value]) => `echo ${value} > /proc/sys/${key}`)
      .join(' && '),
  )
}
