import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { collisionKey, componentProblem, MAX_PATH_BYTES } from '../../src/core/tree-paths.js'
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

  it('shareableNames keeps the first of each collision key whose name and path are fine, in order, and counts every other as a bad name', () => {
    const name = fc.oneof(
      fc.constantFrom('a', 'A', 'b', 'B.txt', 'b.TXT', 'caf\u00e9', 'cafe\u0301', 'con', 'x:y', '..', 'ok\u200b', 'ok'),
      fc.string({ minLength: 1, maxLength: 6 }),
    )
    // A parent of 4,091 bytes: room for names of at most 4 bytes.
    const deep = Array.from({ length: 2046 }, () => 'd').join('/')
    fc.assert(
      fc.property(fc.array(name, { maxLength: 40 }), fc.constantFrom('', 'dir', 'a/b', deep), (names, dirPath) => {
        const problems = new WalkProblems()
        const kept = problems.shareableNames(
          names.map((n) => ({ name: n })),
          dirPath,
        )
        // The rules one at a time, as a reader of tree-paths.ts would apply them.
        const expected: string[] = []
        const keys = new Set<string>()
        for (const n of names) {
          const component = n.normalize('NFC')
          const path = dirPath === '' ? component : `${dirPath}/${component}`
          if (componentProblem(component) !== undefined || Buffer.byteLength(path) > MAX_PATH_BYTES) continue
          if (keys.has(collisionKey(component))) continue
          keys.add(collisionKey(component))
          expected.push(path)
        }
        assert.deepEqual(
          kept.map(({ path }) => path),
          expected,
        )
        for (const { d, path } of kept) assert.ok(path.endsWith(d.name.normalize('NFC')))
        const dropped = names.length - kept.length
        if (dropped === 0) problems.throwIfAny('/root')
        else
          assert.throws(
            () => problems.throwIfAny('/root'),
            (err: unknown) =>
              hasCode(err, 'E_BAD_NAME') && new RegExp(`\\b${dropped} name`).test((err as Error).message),
          )
      }),
      { numRuns: 300 },
    )
  })
})
