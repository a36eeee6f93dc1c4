import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A cable with delay, for kernels without netem (this VM's has only htb and
 * tbf): a TAP device in each namespace, each on a one-port vde2 switch
 * (`vde_switch -t`, run inside that namespace), and vde2's `wirefilter`
 * between the two switches' sockets, holding every frame `delayMs` in each
 * direction (Debian packages vde-switch and vde-wirefilter). The frames cross user
 * space whole, so the hosts' TCP and UDP are end to end, as through netem:
 * nothing terminates or re-frames a connection, as a delaying proxy would.
 *
 *   ns A: tap ⇄ vde_switch ⇄ wirefilter -d <delayMs> ⇄ vde_switch ⇄ tap :ns B
 *
 * Frames go between the three over Unix datagram sockets, which drop when
 * full, as a saturated link does. (`dpipe` joining the three with pipes
 * deadlocked under load in both directions: each process blocked writing to
 * the other, and the cable carried nothing more.) Each process reads commands
 * on a stdin pipe that this process holds open, so they end when it does;
 * stop() ends them by PID. Nothing is sent anywhere but between the two taps.
 */

/** wirefilter's buffer per direction, bytes (its default wedged a TCP flow at 20 ms: measured). */
const CHANNEL_BYTES = 2 * 1024 * 1024

export function wireAvailable(): string | undefined {
  for (const command of ['vde_switch', 'wirefilter'])
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    } catch {
      return `${command} not installed (Debian packages vde-switch and vde-wirefilter)`
    }
  return undefined
}

export interface WireEnd {
  ns: string
  /** The TAP device's name there. */
  dev: string
}

export class Wire {
  private readonly children: ChildProcess[] = []
  private stderr = ''

  private constructor(private readonly dir: string) {}

  /** Make both taps (down, no address) and the delay (and loss, in percent of frames) between them; resolves once both exist. */
  static async start(a: WireEnd, b: WireEnd, delayMs: number, lossPercent = 0): Promise<Wire> {
    const wire = new Wire(mkdtempSync(join(tmpdir(), 'p2p-wire-')))
    try {
      const [sockA, sockB] = [join(wire.dir, 'a'), join(wire.dir, 'b')]
      wire.run('ip', ['netns', 'exec', a.ns, 'vde_switch', '-s', sockA, '-t', a.dev])
      wire.run('ip', ['netns', 'exec', b.ns, 'vde_switch', '-s', sockB, '-t', b.dev])
      await wire.until(() => existsSync(join(sockA, 'ctl')) && existsSync(join(sockB, 'ctl')), 'the switches')
      const filter = ['-d', String(delayMs), '-l', String(lossPercent), '-c', String(CHANNEL_BYTES)]
      wire.run('wirefilter', ['-v', `${sockA}:${sockB}`, ...filter])
      await wire.until(() => exists(a) && exists(b), `the taps ${a.ns}/${a.dev} and ${b.ns}/${b.dev}`)
      return wire
    } catch (err) {
      await wire.stop()
      throw err
    }
  }

  private run(command: string, args: string[]): void {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] })
    child.stdin!.on('error', () => undefined)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-2000)
    })
    this.children.push(child)
  }

  private async until(ready: () => boolean, what: string): Promise<void> {
    for (let waited = 0; !ready(); waited += 20) {
      if (waited > 5000 || this.children.some((c) => c.exitCode !== null))
        throw new Error(`wire: ${what} did not come up: ${this.stderr.trim()}`)
      await sleep(20)
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(timer)
      }),
    )
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** At process exit, when nothing can be awaited. */
  kill(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function exists(end: WireEnd): boolean {
  try {
    execFileSync('ip', ['-n', end.ns, 'link', 'show', 'dev', end.dev], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
