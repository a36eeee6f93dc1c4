import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { LogGate } from '../../src/core/transfer/log-gate.js'
import { Refusals } from '../../src/core/transfer/refusals.js'

/** A socket as Refusals sees it: 'close' may be emitted more than once (destroy, then the kernel's close). */
class FakeSocket extends EventEmitter {
  destroyed = 0
  destroy(): void {
    this.destroyed++
  }
}

describe('refusals (the E_BUSY answers on their way)', () => {
  it('property: per-address and total limits kept, each taken socket given back once, on its close', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('refuse' as const), address: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('close' as const), pick: fc.nat(), twice: fc.boolean() }),
    )
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 10 }),
        (ops, perAddress, total) => {
          const refusals = new Refusals({ perAddress, total })
          const open: Array<{ socket: FakeSocket; address: string }> = []
          for (const o of ops) {
            if (o.kind === 'refuse') {
              const address = `10.0.0.${o.address}`
              const socket = new FakeSocket()
              const from = open.filter((s) => s.address === address).length
              const taken = refusals.take(socket, address)
              assert.equal(taken, from < perAddress && open.length < total, 'taken exactly when within both limits')
              if (taken) open.push({ socket, address })
            } else if (open.length > 0) {
              const [gone] = open.splice(o.pick % open.length, 1)
              gone!.socket.emit('close')
              if (o.twice) gone!.socket.emit('close')
            }
            assert.equal(refusals.size, open.length)
            assert.equal(refusals.addresses, new Set(open.map((s) => s.address)).size)
          }
          refusals.destroyAll()
          assert.ok(
            open.every((s) => s.socket.destroyed === 1),
            'every one still open destroyed once',
          )
          for (const s of open) s.socket.emit('close')
          assert.equal(refusals.size, 0)
          assert.equal(refusals.addresses, 0)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('log gate (log lines per remote address)', () => {
  it('lets `burst` lines through per window, counts the rest onto the next line, and tracks a bounded number of addresses', () => {
    let now = 0
    const gate = new LogGate({ burst: 3, windowMs: 1000, maxAddresses: 2, totalBurst: 100 }, () => now)
    const passed = (address: string, n: number): number =>
      Array.from({ length: n }, () => gate.pass(address)).filter((a) => a.log).length
    assert.equal(passed('a', 10), 3)
    now = 999
    assert.deepEqual(gate.pass('a'), { log: false })
    now = 1000
    assert.deepEqual(gate.pass('a'), { log: true, heldBack: 8, elsewhere: 0 }, 'the 8 held back ride on the next line')
    assert.deepEqual(gate.pass('a'), { log: true, heldBack: 0, elsewhere: 0 })
    assert.equal(passed('b', 5), 3)
    assert.deepEqual(gate.pass('c'), { log: false }, 'a third address while both windows run: not tracked')
    now = 2500
    assert.deepEqual(
      gate.pass('c'),
      { log: true, heldBack: 0, elsewhere: 3 },
      "both windows ended: forgotten, b's 2 and c's 1 held back reported on the next line",
    )
  })

  it('a flood that leaves every window with lines held back does not keep newcomers out once it stops (the second attack)', () => {
    let now = 0
    const gate = new LogGate({ burst: 2, windowMs: 1000, maxAddresses: 100, totalBurst: 1000 }, () => now)
    for (let i = 0; i < 100; i++) for (let k = 0; k < 5; k++) gate.pass(`flood-${i}`)
    assert.deepEqual(gate.pass('honest'), { log: false }, 'while the flood windows run, a newcomer waits')
    now = 1000
    const answer = gate.pass('honest')
    assert.equal(answer.log, true, 'after the windows end it is logged')
    assert.ok(answer.log && answer.elsewhere === 100 * 3 + 1, 'with the count of what was held back')
  })

  it('all addresses together log at most `totalBurst` lines a window, however many addresses take turns (an attacker pass: ~0.6 GB an hour from 60,000 addresses)', () => {
    let now = 0
    const gate = new LogGate({ burst: 2, windowMs: 1000, maxAddresses: 50, totalBurst: 30 }, () => now)
    let logged = 0
    for (let step = 0; step < 10_000; step++) {
      now = step // a new address every millisecond, each window of 1 s forgotten when the gate is full
      if (gate.pass(`a${step}`).log) logged++
    }
    assert.ok(logged <= 30 * 10, `${logged} lines in 10 windows`)
    assert.ok(logged >= 30, 'lines do get through')
    now = 20_000
    const answer = gate.pass('honest')
    assert.ok(answer.log && answer.elsewhere > 0, 'what was held back rides on the next line')
  })

  it('a flood of ordinary lines from a few addresses leaves room for the important ones, and what the total held back rides on the next line', () => {
    const now = 0
    const gate = new LogGate({ burst: 20, windowMs: 1000, maxAddresses: 100, totalBurst: 40 }, () => now)
    let flood = 0
    for (let i = 0; i < 10; i++) for (let k = 0; k < 20; k++) if (gate.pass(`flood-${i}`).log) flood++
    assert.equal(flood, 20, 'ordinary lines take at most half the total')
    assert.deepEqual(gate.pass('honest'), { log: false }, 'an ordinary line of a newcomer is held back too')
    const alert = gate.pass('honest', true)
    assert.ok(alert.log, 'an important one is logged')
    assert.equal(alert.log && alert.elsewhere, 200 - 20 + 1, 'carrying the count of every line the total held back')
    gate.pass('honest')
    assert.equal(gate.heldBack(), 1, 'what is held back after the last line let through, told at the end')
  })
})
