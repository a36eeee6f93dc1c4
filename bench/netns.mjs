// The swarm bench's LAN, built the way test/netns/harness.ts builds the
// tests' one, with every link shaped in both directions:
//
//            ns <prefix>sw (bridge br0, no address)
//        ┌──────────┬──────────┬─── … ───┐
//   p0 ▼ rate+delay ▼          ▼          ▼   (each bridge port shapes what it sends to its host)
//      veth       veth       veth       veth
//   eth0 ▲ rate+delay ▲        ▲          ▲   (each host's eth0 shapes what the host sends)
//   <prefix>h0   …h1        …h2   …    …hN    eth0 10.78.0.1 … /24, lo up
//
// Shaping is HTB (rate = ceil) with a netem leaf holding each packet for
// half the one-way delay, so host → host is `delay` one way and both
// directions of every link are capped at `rate`, as on a switched LAN where
// each machine has its own port. Without netem in the kernel the rate is
// still applied and the delay is not (`delayApplied` says so). Nothing is created in the host's namespace
// but the namespace handles; names start with a per-run prefix; destroy()
// removes them all, and sweepStale() removes those of killed runs.
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

export const SUBNET = '10.78.0'
const NAME_ROOT = 'p2pb'

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
const inNs = (ns, ...args) => ip('netns', 'exec', ns, ...args)

/** Why the swarm cannot run here, or undefined. */
export function netnsUnavailable() {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and tc)'
  try {
    ip('netns', 'list')
    execFileSync('tc', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'ip netns / tc (iproute2) not available'
  }
  const probe = `${NAME_ROOT}${process.pid}probe`
  try {
    ip('netns', 'add', probe)
    ip('netns', 'del', probe)
  } catch {
    return 'cannot create network namespaces here'
  }
  return undefined
}

/**
 * Remove namespaces of earlier bench runs whose process is gone (it was
 * killed with no chance to clean up), and the processes that run was still
 * running in them, by their PIDs (`ip netns pids`): nothing else runs there.
 */
export function sweepStale() {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const m = new RegExp(`^${NAME_ROOT}(\\d+)`).exec(name)
    if (!m) continue
    let alive = true
    try {
      process.kill(Number(m[1]), 0)
    } catch {
      alive = false
    }
    if (alive) continue
    try {
      for (const pid of ip('netns', 'pids', name).split('\n').filter(Boolean))
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          /* gone */
        }
      ip('netns', 'del', name)
    } catch {
      /* already gone */
    }
  }
}

/**
 * HTB at `rate` on `dev`'s egress, inside `ns`, with a netem leaf adding
 * `delay` when the kernel has netem (returns false when it has not: some
 * kernels, this VM's among them, build only htb and tbf).
 */
function shape(ns, dev, rate, delay) {
  inNs(ns, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1')
  inNs(ns, 'tc', 'class', 'replace', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', rate, 'ceil', rate)
  if (!delay) return true
  try {
    inNs(
      ns,
      'tc',
      'qdisc',
      'replace',
      'dev',
      dev,
      'parent',
      '1:1',
      'handle',
      '10:',
      'netem',
      'delay',
      delay,
      'limit',
      '10000',
    )
    return true
  } catch (err) {
    if (/unknown/i.test(err.stderr?.toString() ?? '')) return false
    throw err
  }
}

/** Half of a tc time ("2ms" → "1000us"), for each end of a link. */
function half(delay) {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(delay)
  if (!m) throw new Error(`bad delay ${delay}: use e.g. 2ms or 500us`)
  return `${Math.round((Number(m[1]) * { us: 1, ms: 1000, s: 1e6 }[m[2]]) / 2)}us`
}

export class BenchLan {
  prefix = `${NAME_ROOT}${process.pid}`
  hosts = []
  /** Whether `delay` could be applied (netem present); the rate always is. */
  delayApplied = true

  /** `count` hosts (host 0 is 10.78.0.1) with every link shaped to `rate` and `delay` host → host. */
  static create(root, count, { rate, delay }) {
    sweepStale()
    const lan = new BenchLan()
    const sw = `${lan.prefix}sw`
    try {
      ip('netns', 'add', sw)
      inNs(sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
      inNs(sw, 'ip', 'link', 'set', 'br0', 'up')
      for (let i = 0; i < count; i++) {
        const ns = `${lan.prefix}h${i}`
        const address = `${SUBNET}.${i + 1}`
        lan.hosts.push({ ns, address, dir: join(root, `h${i}`), index: i })
        ip('netns', 'add', ns)
        // Created inside the switch namespace, then one end moved: nothing touches the host's namespace.
        inNs(sw, 'ip', 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
        inNs(sw, 'ip', 'link', 'set', `p${i}`, 'master', 'br0')
        inNs(sw, 'ip', 'link', 'set', `p${i}`, 'up')
        inNs(ns, 'ip', 'addr', 'add', `${address}/24`, 'brd', '+', 'dev', 'eth0')
        inNs(ns, 'ip', 'link', 'set', 'eth0', 'up')
        inNs(ns, 'ip', 'link', 'set', 'lo', 'up')
        const d = lan.delayApplied && delay !== '0ms' ? half(delay) : undefined
        const up = shape(ns, 'eth0', rate, d)
        const down = shape(sw, `p${i}`, rate, d)
        if (!up || !down) lan.delayApplied = false
        mkdirSync(join(root, `h${i}`), { recursive: true })
      }
    } catch (err) {
      lan.destroy()
      throw new Error(`building the namespaces failed: ${err.stderr?.toString().trim() || err.message}`)
    }
    return lan
  }

  /** Bytes `host`'s eth0 has sent and received (the kernel's counters, headers included). */
  counters(host) {
    const [link] = JSON.parse(ip('-n', host.ns, '-s', '-j', 'link', 'show', 'dev', 'eth0'))
    const stats = link.stats64 ?? link.stats
    return { tx: Number(stats.tx.bytes), rx: Number(stats.rx.bytes) }
  }

  /** Delete every namespace of this run (their veths go with them). Idempotent; processes must be stopped first. */
  destroy() {
    for (const ns of [`${this.prefix}sw`, ...this.hosts.map((h) => h.ns)]) {
      try {
        ip('netns', 'del', ns)
      } catch {
        /* already gone */
      }
    }
    this.hosts.length = 0
  }
}
