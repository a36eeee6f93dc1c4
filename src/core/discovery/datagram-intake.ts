import type { Logger } from '../log.js'
import type { DatagramGuard } from '../trust/datagram-guard.js'
import { looksSealed } from '../trust/sealed-datagram.js'

export interface ListenerStats {
  received: number
  dropped: number
  droppedByReason: Record<string, number>
  /** Valid claims left out by the `keep` filter (not drops: nothing was wrong with them). */
  unwanted: number
}

/** Addresses told about once that their datagrams are another swarm's (a flood of sources cannot grow it). */
const MAX_WARNED = 256

/**
 * What a listener takes in of the datagrams it receives: plain outside a
 * private swarm, opened by its guard inside one (on the query socket, only
 * answers to its recent queries); every drop counted by reason and logged
 * at debug level, and said once per address where the user can act on it
 * (a private swarm we are not in, or another secret).
 */
export class DatagramIntake {
  readonly stats: ListenerStats = { received: 0, dropped: 0, droppedByReason: {}, unwanted: 0 }
  private readonly warned = new Set<string>()

  constructor(
    private readonly guard: DatagramGuard | undefined,
    private readonly log: Logger,
  ) {}

  /** The datagram's payload, or undefined when it is dropped. `answers`: our recent queries' nonces (the query socket). */
  unseal(datagram: Buffer, address: string, answers?: readonly Buffer[]): Buffer | undefined {
    this.stats.received++
    const guard = this.guard
    if (!guard) {
      if (!looksSealed(datagram)) return datagram
      this.drop('sealed', address, datagram.length)
      this.warnOnce(address, 'sealed datagrams of a private swarm: give its secret (--secret) to see what it offers')
      return undefined
    }
    const opened = guard.open(datagram, answers)
    if ('payload' in opened) return opened.payload
    this.drop(opened.drop, address, datagram.length)
    if (opened.drop === 'auth')
      this.warnOnce(address, 'sealed datagrams our secret does not open: another private swarm, or another secret')
    return undefined
  }

  drop(reason: string, address: string, bytes: number, err?: unknown): void {
    this.stats.dropped++
    this.stats.droppedByReason[reason] = (this.stats.droppedByReason[reason] ?? 0) + 1
    this.log.debug(
      { from: address, bytes, reason, ...(err ? { err: (err as Error).message } : {}) },
      'datagram dropped',
    )
  }

  private warnOnce(address: string, message: string): void {
    if (this.warned.has(address) || this.warned.size >= MAX_WARNED) return
    this.warned.add(address)
    this.log.warn({ from: address, code: 'E_AUTH' }, message)
  }
}
