import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { collisionKey, componentProblem } from '../../src/core/tree-paths.js'
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

  it('shareableNames keeps each name once per collision key, in order, and counts every other as a bad name', () => {
    const name = fc.oneof(
      fc.constantFrom('a', 'A', 'b', 'B.txt', 'b.TXT', 'caf\u00e9', 'cafe\u0301', 'con', 'x:y', '..', 'ok\u200b', 'ok'),
      fc.string({ minLength: 1, maxLength: 6 }),
    )
    fc.assert(
      fc.property(fc.array(name, { maxLength: 40 }), fc.constantFrom('', 'dir', 'a/b'), (names, dirPath) => {
        const problems = new WalkProblems()
        const kept = problems.shareableNames(
          names.map((n) => ({ name: n })),
          dirPath,
        )
        const keys = kept.map(({ d }) => collisionKey(d.name.normalize('NFC')))
        assert.equal(new Set(keys).size, keys.length, 'no two kept names are one file anywhere')
        for (const { d, path } of kept) {
          assert.equal(componentProblem(d.name.normalize('NFC')), undefined)
          assert.equal(path, dirPath === '' ? d.name.normalize('NFC') : `${dirPath}/${d.name.normalize('NFC')}`)
        }
        assert.deepEqual(
          kept.map(({ d }) => d),
          kept.map(({ d }) => d).sort((x, y) => names.indexOf(x.name) - names.indexOf(y.name)),
          'in the listing order',
        )
        const dropped = names.length - kept.length
        if (dropped === 0) problems.throwIfAny('/root')
        else
          assert.throws(
            () => problems.throwIfAny('/root'),
            (err: unknown) =>
              hasCode(err, 'E_BAD_NAME') && new RegExp(`\\b${dropped} name`).test((err as Error).message),
          )
      }),
      { numRuns: 200 },
    )
  })
})
