import { fileURLToPath } from 'node:url'
import { type HostProcess, spawnInNamespace } from './processes.js'

/**
 * The test's side of a probe agent (probe.ts) running in a namespace: send
 * it commands, await their replies, and wait (bounded) for datagrams to
 * arrive. Every wait is for an event with a deadline, never a sleep.
 */

export interface ProbeMessage {
  name: string
  from: string
  port: number
  data: string
  /** The address of the socket that received it. */
  local: string
}

const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url))

export class Probe {
  readonly messages: ProbeMessage[] = []
  private readonly replies = new Map<number, (reply: Record<string, unknown>) => void>()
  private readonly waiters = new Set<() => void>()
  private seq = 0
  private buffered = ''

  private constructor(private readonly proc: HostProcess) {
    proc.child.stdout!.on('data', (d: string) => this.onData(d))
  }

  static async start(ns: string, cwd: string): Promise<Probe> {
    const probe = new Probe(spawnInNamespace(ns, [PROBE], cwd))
    await probe.request({ op: 'interfaces' }) // started and answering
    return probe
  }

  /** Send a command; its reply (a failed command rejects). */
  request(command: Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const seq = ++this.seq
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(seq)
        reject(
          new Error(
            `probe: no reply to ${JSON.stringify(command)} within ${timeoutMs} ms; stderr: ${this.proc.stderr()}`,
          ),
        )
      }, timeoutMs)
      this.replies.set(seq, (reply) => {
        clearTimeout(timer)
        if (reply.op === 'error') reject(new Error(`probe: ${JSON.stringify(command)}: ${String(reply.error)}`))
        else resolve(reply)
      })
      this.proc.child.stdin!.write(`${JSON.stringify({ seq, ...command })}\n`)
    })
  }

  /** The first message matching `match`, waiting for it up to `timeoutMs`. */
  async waitFor(match: (m: ProbeMessage) => boolean, what: string, timeoutMs = 5000): Promise<ProbeMessage> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.messages.find(match)
      if (found) return found
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(
          `probe: ${what}: nothing within ${timeoutMs} ms (got ${JSON.stringify(this.messages.slice(-5))})`,
        )
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left)
        function done(): void {
          clearTimeout(timer)
          resolve()
        }
        this.waiters.add(done)
      })
    }
  }

  received(data: string): ProbeMessage[] {
    return this.messages.filter((m) => m.data === data)
  }

  async stop(): Promise<void> {
    this.proc.child.stdin!.end()
    await this.proc.stop()
  }

  kill(): void {
    if (this.proc.child.exitCode === null) this.proc.child.kill('SIGKILL')
  }

  private onData(chunk: string): void {
    this.buffered += chunk
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const event = JSON.parse(this.buffered.slice(0, nl)) as Record<string, unknown>
      this.buffered = this.buffered.slice(nl + 1)
      if (event.op === 'message') this.messages.push(event as unknown as ProbeMessage)
      else if (typeof event.seq === 'number') {
        this.replies.get(event.seq)?.(event)
        this.replies.delete(event.seq)
      }
      for (const w of [...this.waiters]) {
        this.waiters.delete(w)
        w()
      }
    }
  }
}
