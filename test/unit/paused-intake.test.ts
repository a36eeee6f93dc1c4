import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { HELD_PIECE_COST, MAX_HELD_WHILE_PAUSED, PausedIntake } from '../../src/core/dht/paused-intake.js'

describe('PausedIntake: what a paused DHT session holds', () => {
  it('property: what was held comes out once, in order, until the reader pauses again; the count is what is held; over the bound says so', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('hold' as const), bytes: fc.integer({ min: 0, max: 300_000 }) }),
      fc.record({ kind: fc.constant('resume' as const), pauseAfter: fc.option(fc.nat(4), { nil: undefined }) }),
      fc.constant({ kind: 'clear' as const }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const intake = new PausedIntake()
        let model: Array<{ fill: number; byteLength: number }> = []
        let next = 0
        for (const o of ops) {
          if (o.kind === 'hold') {
            intake.paused = true
            const fill = next++ % 256
            const data = Buffer.alloc(o.bytes, fill)
            model.push({ fill, byteLength: o.bytes })
            const within = intake.hold(data)
            data.fill(0xee) // the caller's buffer changes: what is held must not
            const charged = model.reduce((n, d) => n + d.byteLength + HELD_PIECE_COST, 0)
            assert.equal(within, charged <= MAX_HELD_WHILE_PAUSED)
          } else if (o.kind === 'resume') {
            const delivered: Buffer[] = []
            intake.resume((data) => {
              delivered.push(data)
              if (o.pauseAfter !== undefined && delivered.length > o.pauseAfter) intake.paused = true
            })
            const count = o.pauseAfter === undefined ? model.length : Math.min(model.length, o.pauseAfter + 1)
            assert.equal(delivered.length, count)
            for (const [i, data] of delivered.entries())
              assert.ok(data.equals(Buffer.alloc(model[i]!.byteLength, model[i]!.fill)), 'in order, as it came')
            model = model.slice(count)
          } else {
            intake.clear()
            model = []
          }
          assert.equal(
            intake.heldBytes,
            model.reduce((n, d) => n + d.byteLength, 0),
          )
        }
      }),
    )
  })

  it('tiny pieces are charged what a piece costs: 1-byte messages cannot hold more pieces than the bound allows', () => {
    const intake = new PausedIntake()
    intake.paused = true
    let pieces = 0
    while (intake.hold(Buffer.alloc(1))) pieces++
    assert.ok(pieces < MAX_HELD_WHILE_PAUSED / HELD_PIECE_COST, `${pieces} pieces held`)
  })
})
