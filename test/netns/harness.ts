import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { type HostProcess, startCommand } from './processes.js'

export type { HostProcess } from './processes.js'

/**
 * A small LAN made of network namespaces, for tests that need real hosts:
 *
 *            ns <prefix>sw (bridge br0, no address)
 *        ┌─────────┬─────────┬─────────┐
 *      veth      veth      veth      veth
 *        │         │         │         │
 *   <prefix>h1  …h2       …h3       …h4      eth0 10.77.0.1 … .4 /24, lo up, IPv6 off
 *
 * Nothing is created in the host's namespace but the namespace handles
 * themselves, so no traffic can reach the host's real interfaces. Every
 * namespace name starts with a per-run prefix; `destroy()` removes them
 * all (also at process exit), and `sweepStale()` removes leftovers of runs
 * that were killed.
 */

export const SUBNET = '10.77.0'
export const NAME_ROOT = 'p2pt'

export function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' })
    execFileSync('tc', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'ip netns / tc (iproute2) not available'
  }
  const probe = `${NAME_ROOT}${process.pid}probe`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' })
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' })
  } catch {
    return 'cannot create network namespaces here'
  }
  return undefined
}

/** The tc command shaping what `dev` sends to `rate` (token bucket filter; no delay: netem is not on every kernel). */
export const tbf = (dev: string, rate: string): string[] => [
  'tc',
  'qdisc',
  'replace',
  'dev',
  dev,
  'root',
  'tbf',
  'rate',
  rate,
  'burst',
  '64kb',
  'latency',
  '100ms',
]

export const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}
export const inNs = (ns: string, ...args: string[]): void => ip('netns', 'exec', ns, ...args)

/** Remove namespaces of earlier runs whose process is gone. */
export function sweepStale(): void {
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = new RegExp(`^${NAME_ROOT}(\\d+)`).exec(name)
    if (!m) continue
    const pid = Number(m[1])
    let alive = true
    try {
      process.kill(pid, 0)
    } catch {
      alive = false
    }
    if (!alive)
      try {
        ip('netns', 'del', name)
      } catch {
        /* already gone */
      }
  }
}

export interface Host {
  ns: string
  address: string
  dir: string
  /** Bring eth0 down or up (a cut cable). */
  link(up: boolean): void
  /** Shape this host's outgoing traffic (token bucket filter). */
  shape(rate: string): void
  /** Start a built command inside the namespace. */
  start(name: string, args: string[]): HostProcess
}

export class Lan {
  readonly prefix = `${NAME_ROOT}${process.pid}`
  readonly hosts: Host[] = []
  private readonly processes = new Set<HostProcess>()
  private readonly onExit = (): void => this.destroyNow()

  private constructor(private readonly root: string) {}

  static async create(root: string, count: number): Promise<Lan> {
    sweepStale()
    const lan = new Lan(root)
    process.on('exit', lan.onExit)
    const sw = `${lan.prefix}sw`
    try {
      ip('netns', 'add', sw)
      inNs(sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
      inNs(sw, 'ip', 'link', 'set', 'br0', 'up')
      for (let i = 1; i <= count; i++) lan.hosts.push(await lan.addHost(i, sw))
    } catch (err) {
      lan.destroyNow()
      throw err
    }
    return lan
  }

  private async addHost(i: number, sw: string): Promise<Host> {
    const ns = `${this.prefix}h${i}`
    const address = `${SUBNET}.${i}`
    ip('netns', 'add', ns)
    // Created inside the switch namespace, then one end moved: nothing touches the host's namespace.
    inNs(sw, 'ip', 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    inNs(sw, 'ip', 'link', 'set', `p${i}`, 'master', 'br0')
    inNs(sw, 'ip', 'link', 'set', `p${i}`, 'up')
    // An IPv4 LAN: with IPv6 on, "auto" would also reach every peer through the IPv6 group, at a second address.
    inNs(
      ns,
      'sh',
      '-c',
      'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6',
    )
    inNs(ns, 'ip', 'addr', 'add', `${address}/24`, 'brd', '+', 'dev', 'eth0')
    inNs(ns, 'ip', 'link', 'set', 'eth0', 'up')
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
    const dir = join(this.root, `h${i}`)
    await mkdir(dir, { recursive: true })
    return {
      ns,
      address,
      dir,
      link: (up) => inNs(ns, 'ip', 'link', 'set', 'eth0', up ? 'up' : 'down'),
      shape: (rate) => inNs(ns, ...tbf('eth0', rate)),
      start: (name, args) => this.start(ns, dir, name, args),
    }
  }

  private start(ns: string, dir: string, name: string, args: string[]): HostProcess {
    const proc = startCommand(ns, dir, name, args)
    this.processes.add(proc)
    return proc
  }

  /** Stop every process started so far (SIGTERM, then SIGKILL), restore links and lift shaping. */
  async reset(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop()))
    this.processes.clear()
    for (const h of this.hosts) {
      h.link(true)
      try {
        inNs(h.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root')
      } catch {
        /* none */
      }
    }
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop()))
    this.destroyNow()
  }

  private destroyNow(): void {
    for (const p of this.processes) if (p.child.exitCode === null) p.child.kill('SIGKILL')
    for (const ns of [`${this.prefix}sw`, ...this.hosts.map((h) => h.ns)]) {
      try {
        ip('netns', 'del', ns)
      } catch {
        /* already gone */
      }
    }
    this.hosts.length = 0
    process.off('exit', this.onExit)
  }
}
