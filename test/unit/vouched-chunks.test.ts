import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { hasCode } from '../../src/core/errors.js'
import { VouchedChunks } from '../../src/core/vouched-chunks.js'

describe('vouched chunks (a download and a server in one process)', () => {
  it("answers for a writer's accepted chunks only while it holds the file, by the file's resolved path", () => {
    const vouched = new VouchedChunks()
    const have = new Bitfield(8)
    const release = vouched.register('/store/entry/data', have)
    assert.equal(vouched.has('/store/entry/data', 3), false, 'nothing accepted yet')
    have.set(3)
    assert.equal(vouched.has('/store/entry/data', 3), true, 'the live bitfield, not a copy')
    assert.equal(vouched.has('/store/./entry/../entry/data', 3), true, 'the same file by another spelling')
    assert.equal(vouched.has('/store/other/data', 3), false, 'another entry')
    assert.equal(vouched.has('/store/entry/data', 99), false, 'out of range')
    release()
    assert.equal(vouched.has('/store/entry/data', 3), false, 'released: the verified record speaks for the file now')
    assert.equal(vouched.files, 0)
  })

  it('refuses a second writer on one file (E_INTERNAL), and a stale release never frees the next owner', () => {
    const vouched = new VouchedChunks()
    const first = vouched.register('/s/e/data', new Bitfield(4))
    assert.throws(
      () => vouched.register('/s/e/data', new Bitfield(4)),
      (e) => hasCode(e, 'E_INTERNAL'),
    )
    first()
    const next = new Bitfield(4)
    next.set(1)
    const second = vouched.register('/s/e/data', next)
    first() // released twice: must not take the second writer's registration
    assert.equal(vouched.has('/s/e/data', 1), true)
    second()
    assert.equal(vouched.files, 0)
  })

  it('property: any interleaving of registers, releases (repeated ones included) and lookups agrees with a model', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('register' as const), file: fc.nat(3), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('release' as const), handle: fc.nat(20) }),
      fc.record({ kind: fc.constant('has' as const), file: fc.nat(3), bit: fc.nat(7) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const vouched = new VouchedChunks()
        const model = new Map<number, Bitfield>()
        const handles: Array<{ file: number; have: Bitfield; release: () => void }> = []
        for (const o of ops) {
          if (o.kind === 'register') {
            const have = new Bitfield(8)
            have.set(o.bit)
            if (model.has(o.file)) {
              assert.throws(() => vouched.register(`/s/${o.file}/data`, have))
              continue
            }
            handles.push({ file: o.file, have, release: vouched.register(`/s/${o.file}/data`, have) })
            model.set(o.file, have)
          } else if (o.kind === 'release') {
            const h = handles[o.handle % Math.max(1, handles.length)]
            if (!h) continue
            h.release()
            if (model.get(h.file) === h.have) model.delete(h.file)
          } else {
            assert.equal(vouched.has(`/s/${o.file}/data`, o.bit), model.get(o.file)?.get(o.bit) ?? false)
          }
          assert.equal(vouched.files, model.size, 'one registration per file held, none left behind')
        }
        for (const h of handles) h.release()
        assert.equal(vouched.files, 0, 'every owner released: nothing vouched for')
      }),
    )
  })
})
