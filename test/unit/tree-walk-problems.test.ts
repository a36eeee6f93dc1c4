import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { WalkProblems } from '../../src/core/tree-walk-problems.js'

/**
 * A walk's problems: every one counted, the first ten named, whatever their
 * number (a folder of a million bad names costs ten descriptions), and
 * unreadable entries reported before bad names.
 */

describe('WalkProblems', () => {
  it('counts every problem, names the first ten, says how many more', () => {
    fc.assert(
      fc.property(fc.nat(3000), fc.nat(3000), (unreadable, bad) => {
        const problems = new WalkProblems()
        for (let i = 0; i < bad; i++) problems.badName(`"b${i}": it has a colon`)
        for (let i = 0; i < unreadable; i++)
          problems.unreadableEntry(`u${i}`, Object.assign(new Error('no'), { code: 'EACCES' }))
        if (unreadable === 0 && bad === 0) {
          problems.throwIfAny('/root')
          return
        }
        const code = unreadable > 0 ? 'E_IO' : 'E_BAD_NAME'
        const count = unreadable > 0 ? unreadable : bad
        const prefix = unreadable > 0 ? '"u' : '"b'
        assert.throws(
          () => problems.throwIfAny('/root'),
          (err: unknown) => {
            const message = (err as Error).message
            assert.ok(hasCode(err, code), message)
            assert.match(message, new RegExp(`\\b${count} (file|name)`))
            assert.equal(message.split(prefix).length - 1, Math.min(count, 10), 'the first ten named')
            if (count > 10) assert.match(message, new RegExp(`and ${count - 10} more`))
            else assert.doesNotMatch(message, /more/)
            return true
          },
        )
      }),
      { numRuns: 60 },
    )
  })
})
