import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { WithheldIds } from '../../src/core/discovery/withheld-ids.js'

describe('withheld ids (an announcer leaves them out)', () => {
  it('an id is withheld while any of its holds is unreleased; each release counts once; the last one reports it, once', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('hold' as const), id: fc.constantFrom('a', 'b', 'c') }),
            fc.record({ op: fc.constant('release' as const), which: fc.nat() }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const reported: string[] = []
          const ids = new WithheldIds((id) => reported.push(id))
          const holds: Array<{ id: string; release: () => void; released: boolean }> = []
          const expectedReports: string[] = []
          for (const op of ops) {
            if (op.op === 'hold') {
              holds.push({ id: op.id, release: ids.hold(op.id), released: false })
            } else if (holds.length > 0) {
              const h = holds[op.which % holds.length]!
              const wasLast = !h.released && holds.filter((x) => x.id === h.id && !x.released).length === 1
              h.release()
              h.released = true
              if (wasLast) expectedReports.push(h.id)
            }
            for (const id of ['a', 'b', 'c'])
              assert.equal(
                ids.has(id),
                holds.some((h) => h.id === id && !h.released),
              )
          }
          assert.deepEqual(reported, expectedReports)
        },
      ),
    )
  })
})
