import { type OnViolation, throwViolation } from '../buffer-pool.js'
import { P2PError } from '../errors.js'

/**
 * A shared allowance of bytes (chunk data read ahead: read from disk but not
 * yet handed to a socket), so a server's memory stays flat however many
 * clients pipeline however many requests, shared fairly so that no
 * connection and no address can hold it all.
 *
 * Each connection draws from its own `BudgetAccount`; accounts of one
 * address form a group. Among the accounts that hold or want bytes, each may
 * hold `max / active accounts` and each address `max / active addresses`
 * (always at least one request's worth when it holds nothing: a request
 * larger than a share, or than the whole budget, is let through alone rather
 * than never). A waiter over its own share waits without blocking anyone;
 * waiters within their shares are served first come, first served. When a
 * waiter within its shares cannot be served because the total is spent,
 * accounts holding more than their share are asked (asynchronously) to give
 * back what they can (`onReclaim`: read-ahead not yet written): an account
 * keeps bytes granted while it was alone, so without this a client that
 * stops reading would keep them until its idle timeout.
 *
 * Every grant is an object with one release. Releasing it twice is an
 * ownership bug: reported to `onViolation` and otherwise ignored, so the
 * count never goes wrong.
 */

export interface BudgetGrant {
  readonly bytes: number
  release(): void
}

interface Group {
  key: string
  held: number
  waiting: number
  /** Holds or wants bytes (counted in activeGroups). */
  active: boolean
  /** Accounts not yet closed and settled. */
  members: number
}

interface Waiter {
  account: BudgetAccount
  bytes: number
  resolve: (grant: BudgetGrant) => void
  reject: (err: P2PError) => void
  detach: () => void
}

type Verdict = 'ok' | 'share' | 'total'

export interface ByteBudgetOptions {
  onViolation?: OnViolation
}

export class BudgetAccount {
  held = 0
  waiting = 0
  closed = false
  /** Closed with nothing held or wanted: no longer a member of its group. */
  done = false

  constructor(
    private readonly budget: ByteBudget,
    readonly group: Group,
    readonly onReclaim: () => void,
  ) {}

  /** Wait for `bytes` within this account's share; rejects with E_CLOSED if `signal` aborts first. */
  acquire(bytes: number, signal?: AbortSignal): Promise<BudgetGrant> {
    return this.budget.acquire(this, bytes, signal)
  }

  /** True while someone waits for the total and this account (or its address) holds more than its share. */
  get overShare(): boolean {
    return this.budget.isOverShare(this)
  }

  /** No more acquires; grants still out may be released later. */
  close(): void {
    this.closed = true
    this.budget.update(this)
  }
}

export class ByteBudget {
  private used = 0
  private readonly waiters: Waiter[] = []
  private readonly active = new Set<BudgetAccount>()
  private readonly groups = new Map<string, Group>()
  private activeGroups = 0
  private readonly onViolation: OnViolation
  private settling = false
  private again = false
  private pressed = false
  private reclaimQueued = false
  private idlers: Array<() => void> = []

  constructor(
    readonly max: number,
    options: ByteBudgetOptions = {},
  ) {
    this.onViolation = options.onViolation ?? throwViolation
  }

  get inUse(): number {
    return this.used
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.waiters.length
  }

  /** Resolves when no bytes are held and nobody waits (e.g. once a closed server's last read has ended). */
  idle(): Promise<void> {
    if (this.used === 0 && this.waiters.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idlers.push(resolve))
  }

  /** An account for one connection from `address`; `onReclaim` is asked to give back read-ahead under pressure. */
  account(address: string, onReclaim: () => void = () => undefined): BudgetAccount {
    let group = this.groups.get(address)
    if (!group) {
      group = { key: address, held: 0, waiting: 0, active: false, members: 0 }
      this.groups.set(address, group)
    }
    group.members++
    return new BudgetAccount(this, group, onReclaim)
  }

  acquire(account: BudgetAccount, bytes: number, signal?: AbortSignal): Promise<BudgetGrant> {
    if (account.closed) return Promise.reject(new P2PError('E_CLOSED', 'budget account closed'))
    if (signal?.aborted) return Promise.reject(new P2PError('E_CLOSED', 'request abandoned'))
    if (this.waiters.length === 0 && this.verdict(account, bytes) === 'ok')
      return Promise.resolve(this.grant(account, bytes))
    return new Promise<BudgetGrant>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter)
        if (at < 0) return
        this.waiters.splice(at, 1)
        this.setWaiting(account, -1)
        reject(new P2PError('E_CLOSED', 'request abandoned'))
        this.settle()
      }
      const waiter: Waiter = {
        account,
        bytes,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
      this.setWaiting(account, +1)
      this.settle()
    })
  }

  isOverShare(account: BudgetAccount): boolean {
    if (!this.pressed || account.held === 0) return false
    return account.held > this.accountShare() || account.group.held > this.groupShare()
  }

  /** Keep the sets of accounts and addresses that hold or want bytes (the shares are computed over them). */
  update(account: BudgetAccount): void {
    const wants = account.held > 0 || account.waiting > 0
    if (wants) this.active.add(account)
    else this.active.delete(account)
    const group = account.group
    const groupWants = group.held > 0 || group.waiting > 0
    if (groupWants !== group.active) {
      group.active = groupWants
      this.activeGroups += groupWants ? 1 : -1
    }
    if (account.closed && !wants && !account.done) {
      account.done = true
      if (--group.members === 0) this.groups.delete(group.key)
    }
  }

  private accountShare(): number {
    return this.max / Math.max(1, this.active.size)
  }

  private groupShare(): number {
    return this.max / Math.max(1, this.activeGroups)
  }

  private verdict(account: BudgetAccount, bytes: number): Verdict {
    // Shares are computed as if this account and its address were active (they are about to be).
    const accounts = this.active.size + (this.active.has(account) ? 0 : 1)
    if (account.held > 0 && account.held + bytes > this.max / accounts) return 'share'
    const group = account.group
    const groups = this.activeGroups + (group.active ? 0 : 1)
    if (group.held > 0 && group.held + bytes > this.max / groups) return 'share'
    if (this.used > 0 && this.used + bytes > this.max) return 'total'
    return 'ok'
  }

  private grant(account: BudgetAccount, bytes: number): BudgetGrant {
    account.held += bytes
    account.group.held += bytes
    this.used += bytes
    this.update(account)
    let released = false
    return {
      bytes,
      release: () => {
        if (released) {
          this.onViolation(new P2PError('E_INTERNAL', `a budget grant of ${bytes} bytes was released twice`))
          return
        }
        released = true
        account.held -= bytes
        account.group.held -= bytes
        this.used -= bytes
        this.update(account)
        this.settle()
      },
    }
  }

  private setWaiting(account: BudgetAccount, delta: number): void {
    account.waiting += delta
    account.group.waiting += delta
    this.update(account)
  }

  /** Serve the waiters that fit, in order; a waiter blocked only by the total holds back those behind it. */
  private settle(): void {
    if (this.settling) {
      this.again = true
      return
    }
    this.settling = true
    try {
      do {
        this.again = false
        let blocked = false
        for (let i = 0; i < this.waiters.length; ) {
          const w = this.waiters[i]!
          const verdict = this.verdict(w.account, w.bytes)
          if (verdict === 'total') blocked = true
          if (verdict !== 'ok' || blocked) {
            i++
            continue
          }
          this.waiters.splice(i, 1)
          w.detach()
          this.setWaiting(w.account, -1)
          w.resolve(this.grant(w.account, w.bytes))
        }
        this.pressed = blocked
      } while (this.again)
    } finally {
      this.settling = false
    }
    if (this.pressed) this.queueReclaim()
    if (this.used === 0 && this.waiters.length === 0 && this.idlers.length > 0)
      for (const resolve of this.idlers.splice(0)) resolve()
  }

  /** Ask over-share accounts to give back read-ahead, outside any caller's stack (they release grants, which settles again). */
  private queueReclaim(): void {
    if (this.reclaimQueued) return
    this.reclaimQueued = true
    queueMicrotask(() => {
      this.reclaimQueued = false
      for (const account of [...this.active]) {
        if (!this.isOverShare(account)) continue
        account.onReclaim()
      }
    })
  }
}
