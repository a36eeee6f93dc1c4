import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { BufferPool, throwViolation } from '../../src/core/buffer-pool.js'
import { hasCode } from '../../src/core/errors.js'
import { type BudgetAccount, type BudgetGrant, ByteBudget } from '../../src/core/transfer/budget.js'
import { StalledSockets } from '../../src/core/transfer/stalled-sockets.js'

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('byte budget', () => {
  it('a grant released twice is reported and counted once', async () => {
    const budget = new ByteBudget(100)
    const grant = await budget.account('a').acquire(60)
    assert.equal(budget.inUse, 60)
    grant.release()
    assert.throws(
      () => grant.release(),
      (e) => hasCode(e, 'E_INTERNAL'),
    )
    assert.equal(budget.inUse, 0)
    const seen: string[] = []
    const lenient = new ByteBudget(100, { onViolation: (e) => seen.push(e.code) })
    const g = await lenient.account('a').acquire(10)
    g.release()
    g.release()
    assert.deepEqual(seen, ['E_INTERNAL'])
    assert.equal(lenient.inUse, 0)
  })

  it('an abandoned wait rejects with E_CLOSED, holds nothing and lets the next waiter in', async () => {
    const budget = new ByteBudget(100)
    const a = budget.account('a')
    const first = await a.acquire(100)
    const abort = new AbortController()
    const abandoned = budget.account('b').acquire(50, abort.signal)
    const next = budget.account('c').acquire(50)
    abort.abort()
    await assert.rejects(abandoned, (e) => hasCode(e, 'E_CLOSED'))
    first.release()
    const g = await next
    assert.equal(budget.inUse, 50)
    g.release()
    assert.equal(budget.inUse, 0)
  })

  it('a connection holding more than its share gives read-ahead back when another waits, down to its share', async () => {
    const budget = new ByteBudget(10)
    const held: BudgetGrant[] = []
    let asked = 0
    const hog: BudgetAccount = budget.account('10.0.0.1', () => {
      asked++
      while (hog.overShare && held.length > 1) held.pop()!.release()
    })
    for (let i = 0; i < 10; i++) held.push(await hog.acquire(1))
    assert.equal(budget.inUse, 10, 'alone, it may take everything')
    const honest = budget.account('10.0.0.2')
    const got: BudgetGrant[] = []
    for (let i = 0; i < 5; i++) got.push(await honest.acquire(1))
    assert.ok(asked >= 5)
    assert.equal(held.length, 5, 'the hog keeps its share (half, with two connections active)')
    let more = false
    const sixth = honest.acquire(1).then((g) => {
      more = true
      return g
    })
    await tick()
    assert.equal(more, false, 'the other waits at its own share too')
    held.pop()!.release()
    await tick()
    assert.equal(more, false, 'shares hold while both are active, even with bytes free')
    got.shift()!.release()
    got.push(await sixth)
    for (const g of [...got, ...held]) g.release()
    assert.equal(budget.inUse, 0)
  })

  it('one address cannot hold more than its share: its connections wait while another address is served', async () => {
    const budget = new ByteBudget(12)
    const a = [budget.account('A'), budget.account('A'), budget.account('A')]
    const b = budget.account('B')
    const grants = [await a[0]!.acquire(2), await a[1]!.acquire(2), await a[2]!.acquire(2), await b.acquire(2)]
    // A holds 6 = 12 / 2 addresses: its share; each connection's share is 12 / 4 = 3.
    let aGot = false
    const aMore = a[0]!.acquire(1).then((g) => {
      aGot = true
      return g
    })
    grants.push(await b.acquire(1))
    await tick()
    assert.equal(aGot, false, 'A waits at its share while B, under its share, is served')
    grants.shift()!.release()
    grants.push(await aMore)
    for (const g of grants) g.release()
    assert.equal(budget.inUse, 0)
  })

  it('property: any interleaving of acquires, releases, double releases and abandons keeps the count exact and within the limit', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('acquire' as const),
        account: fc.nat(5),
        bytes: fc.integer({ min: 1, max: 40 }),
        abandonable: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('release' as const), which: fc.nat(), twice: fc.boolean() }),
      fc.record({ kind: fc.constant('abandon' as const), which: fc.nat() }),
      fc.record({ kind: fc.constant('close' as const), account: fc.nat(5) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        let violations = 0
        const budget = new ByteBudget(64, {
          onViolation: () => {
            violations++
          },
        })
        const grants: BudgetGrant[] = []
        const pending: Array<{ abort: AbortController; settled: Promise<void> }> = []
        const sheddable: BudgetGrant[][] = []
        const accounts = Array.from({ length: 6 }, (_, i) => {
          sheddable[i] = []
          const account: BudgetAccount = budget.account(`addr-${i % 3}`, () => {
            while (account.overShare && sheddable[i]!.length > 0) sheddable[i]!.pop()!.release()
          })
          return account
        })
        let doubles = 0
        for (const o of ops) {
          if (o.kind === 'acquire') {
            const abort = new AbortController()
            const settled = accounts[o.account]!.acquire(o.bytes, o.abandonable ? abort.signal : undefined).then(
              (g) => {
                assert.ok(
                  budget.inUse <= budget.max || budget.inUse === g.bytes,
                  `in use ${budget.inUse} over ${budget.max}`,
                )
                if (o.bytes % 2 === 0) sheddable[o.account]!.push(g)
                else grants.push(g)
              },
              (e) => assert.ok(hasCode(e, 'E_CLOSED')),
            )
            pending.push({ abort, settled })
          } else if (o.kind === 'release' && grants.length > 0) {
            const g = grants.splice(o.which % grants.length, 1)[0]!
            g.release()
            if (o.twice) {
              g.release()
              doubles++
            }
          } else if (o.kind === 'abandon' && pending.length > 0) {
            pending[o.which % pending.length]!.abort.abort()
          } else if (o.kind === 'close') {
            accounts[o.account]!.close()
          }
          await tick()
        }
        // Release everything, abandon every wait: the count must come back to zero.
        for (
          let round = 0;
          round < 100 && (grants.length > 0 || sheddable.some((s) => s.length > 0) || budget.waiting > 0);
          round++
        ) {
          for (const g of grants.splice(0)) g.release()
          for (const s of sheddable) for (const g of s.splice(0)) g.release()
          await tick()
          if (round > 50) for (const p of pending) p.abort.abort()
        }
        for (const p of pending) p.abort.abort()
        await Promise.all(pending.map((p) => p.settled))
        for (const g of grants.splice(0)) g.release()
        for (const s of sheddable) for (const g of s.splice(0)) g.release()
        assert.equal(budget.inUse, 0)
        assert.equal(budget.waiting, 0)
        assert.equal(violations, doubles)
      }),
      { numRuns: 150 },
    )
  })
})

describe('buffer pool', () => {
  it('refuses a buffer it already holds, so two owners never share one', () => {
    const pool = new BufferPool({ onViolation: throwViolation })
    const b = pool.take(4096)
    pool.give(b)
    assert.throws(
      () => pool.give(b),
      (e) => hasCode(e, 'E_INTERNAL'),
    )
    assert.deepEqual(pool.audit(), { free: 1, duplicates: 0 })
    const x = pool.take(4096)
    const y = pool.take(4096)
    assert.notEqual(x.buffer, y.buffer, 'two takes never get the same memory')
  })

  it('a lease returns its buffer exactly once; a second release is reported and ignored', () => {
    const seen: string[] = []
    const pool = new BufferPool({ onViolation: (e) => seen.push(e.code) })
    const lease = pool.lease(1000)
    assert.equal(pool.outstanding, 1)
    lease.release()
    lease.release()
    assert.deepEqual(seen, ['E_INTERNAL'])
    assert.equal(pool.outstanding, 0)
    assert.deepEqual(pool.audit(), { free: 1, duplicates: 0 })
    assert.equal(pool.violations, 1)
  })
})

describe('stalled sockets', () => {
  it('past the limit, closes the connection stalled longest (at least the minimum), never one that drained', () => {
    let now = 0
    const stalls = new StalledSockets(10, 100, () => now)
    const evicted: string[] = []
    const conn = (name: string) => ({
      evict: () => {
        evicted.push(name)
        stalls.resumed(c[name]!)
      },
    })
    const c: Record<string, { evict(): void }> = {}
    for (const name of ['reader', 'hog', 'young']) c[name] = conn(name)
    stalls.stalled(c.reader!, 6)
    now = 50
    stalls.stalled(c.hog!, 6)
    assert.deepEqual(evicted, [], 'over the limit, but nobody stalled for 100 ms yet')
    now = 90
    stalls.resumed(c.reader!) // it read: drained
    stalls.stalled(c.reader!, 6) // and stalls again, now the youngest
    now = 160
    stalls.stalled(c.young!, 1)
    assert.deepEqual(evicted, ['hog'], 'the one stalled longest goes, the reader stays')
    assert.equal(stalls.pinned, 7)
    assert.equal(stalls.evictions, 1)
    stalls.close()
  })
})
