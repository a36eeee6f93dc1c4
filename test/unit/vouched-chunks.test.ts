import assert from 'node:assert/strict'
import { lstatSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { hasCode } from '../../src/core/errors.js'
import { VouchedChunks } from '../../src/core/vouched-chunks.js'
import { tmpDir } from '../helpers/files.js'

const file = (ino: number | bigint) => ({ dev: 1n, ino: BigInt(ino) })

describe('vouched chunks (a download and a server in one process)', () => {
  it("answers for a writer's accepted chunks only while it holds the file, by the file's resolved path and identity", () => {
    const vouched = new VouchedChunks()
    const have = new Bitfield(8)
    const release = vouched.register('/store/entry/data', file(7), have)
    assert.equal(vouched.has('/store/entry/data', file(7), 3), false, 'nothing accepted yet')
    have.set(3)
    assert.equal(vouched.has('/store/entry/data', file(7), 3), true, 'the live bitfield, not a copy')
    assert.equal(vouched.has('/store/./entry/../entry/data', file(7), 3), true, 'the same file by another spelling')
    assert.equal(vouched.has('/store/entry/data', file(8), 3), false, 'another file put at the path')
    assert.equal(vouched.has('/store/entry/data', { dev: 2n, ino: 7n }, 3), false, 'another device')
    assert.equal(vouched.has('/store/other/data', file(7), 3), false, 'another entry')
    assert.equal(vouched.has('/store/entry/data', file(7), 99), false, 'out of range')
    release()
    assert.equal(vouched.has('/store/entry/data', file(7), 3), false, 'released: the verified record speaks now')
    assert.equal(vouched.files, 0)
  })

  it('tells neighbouring inodes above 2^53 apart (overlayfs with xino), which one double would not', () => {
    const vouched = new VouchedChunks()
    const have = new Bitfield(8)
    have.set(3)
    // As Node's bigint stats give them (signed 64 bits); as doubles they are one number.
    const [high, next] = [file(-9223372036852588532n), file(-9223372036852588531n)]
    assert.equal(Number(high.ino), Number(next.ino), 'the case itself')
    const release = vouched.register('/store/entry/data', high, have)
    assert.equal(vouched.has('/store/entry/data', high, 3), true)
    assert.equal(vouched.has('/store/entry/data', next, 3), false, 'the neighbouring inode is another file')
    release()
  })

  it('refuses a second writer on one path (E_INTERNAL), and a stale release never frees the next owner', () => {
    const vouched = new VouchedChunks()
    const first = vouched.register('/s/e/data', file(1), new Bitfield(4))
    assert.throws(
      () => vouched.register('/s/e/data', file(2), new Bitfield(4)),
      (e) => hasCode(e, 'E_INTERNAL'),
    )
    first()
    const next = new Bitfield(4)
    next.set(1)
    const second = vouched.register('/s/e/data', file(1), next)
    first() // released twice: must not take the second writer's registration
    assert.equal(vouched.has('/s/e/data', file(1), 1), true)
    second()
    assert.equal(vouched.files, 0)
  })

  it('property: any interleaving of registers, releases (repeated ones included) and lookups agrees with a model', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('register' as const), path: fc.nat(3), ino: fc.nat(2), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('release' as const), handle: fc.nat(20) }),
      fc.record({ kind: fc.constant('has' as const), path: fc.nat(3), ino: fc.nat(2), bit: fc.nat(7) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const vouched = new VouchedChunks()
        const model = new Map<number, { ino: number; have: Bitfield }>()
        const handles: Array<{ path: number; have: Bitfield; release: () => void }> = []
        for (const o of ops) {
          if (o.kind === 'register') {
            const have = new Bitfield(8)
            have.set(o.bit)
            if (model.has(o.path)) {
              assert.throws(() => vouched.register(`/s/${o.path}/data`, file(o.ino), have))
              continue
            }
            handles.push({ path: o.path, have, release: vouched.register(`/s/${o.path}/data`, file(o.ino), have) })
            model.set(o.path, { ino: o.ino, have })
          } else if (o.kind === 'release') {
            const h = handles[o.handle % Math.max(1, handles.length)]
            if (!h) continue
            h.release()
            if (model.get(h.path)?.have === h.have) model.delete(h.path)
          } else {
            const held = model.get(o.path)
            const expected = held !== undefined && held.ino === o.ino && held.have.get(o.bit)
            assert.equal(vouched.has(`/s/${o.path}/data`, file(o.ino), o.bit), expected)
          }
          assert.equal(vouched.files, model.size, 'one registration per path held, none left behind')
        }
        for (const h of handles) h.release()
        assert.equal(vouched.files, 0, 'every owner released: nothing vouched for')
      }),
    )
  })

  it("gives an announcer a copy of a writer's have while the writer's file is at the path, and says when it grew", async (t) => {
    const dir = await tmpDir(t)
    const data = join(dir, 'data')
    await writeFile(data, 'x')
    const vouched = new VouchedChunks()
    const have = new Bitfield(12)
    const release = vouched.register(data, lstatSync(data, { bigint: true }), have)
    let told = 0
    const listener = (): void => {
      told++
    }
    const stop = vouched.onGrowth(listener)
    const stopAgain = vouched.onGrowth(listener)
    have.set(9)
    vouched.grew(join(dir, '.', 'data'))
    assert.equal(told, 2, 'each registration is told, by any spelling of the path')
    vouched.grew(join(dir, 'other'))
    assert.equal(told, 2, 'no writer there: nobody is told')
    const copy = vouched.haveOf(data)
    assert.deepEqual(copy?.indices(), [9])
    copy?.set(1)
    assert.equal(have.get(1), false, 'a copy: the announcer cannot change what the writer holds')
    stopAgain()
    vouched.grew(data)
    assert.equal(told, 3, 'removing one registration leaves the other')
    stop()
    await writeFile(`${data}.new`, 'y')
    await rename(`${data}.new`, data)
    assert.equal(vouched.haveOf(data), undefined, 'another file at the path: not what the writer wrote')
    release()
    assert.equal(vouched.haveOf(data), undefined)
    vouched.grew(data)
    assert.equal(told, 3)
  })
})
