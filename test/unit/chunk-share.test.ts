import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import {
  ChunkShare,
  MAX_SHARE_PEERS,
  ownShare,
  SHARE_REMAKE_MS,
  shareGroup,
} from '../../src/core/download/chunk-share.js'
import { Scheduler } from '../../src/core/download/scheduler.js'

const ids = (min: number, max: number) =>
  fc.uniqueArray(fc.string({ minLength: 1, maxLength: 64 }), { minLength: min, maxLength: max })

describe('chunk share', () => {
  it('splits every chunk to exactly one download of the group, whatever order the others were heard in', () => {
    fc.assert(
      fc.property(ids(2, 20), fc.integer({ min: 0, max: 600 }), fc.nat(), (peers, count, shuffle) => {
        const owners = new Uint8Array(count)
        for (const self of peers) {
          const heard = peers.filter((p) => p !== self)
          const rotated = [
            ...heard.slice(shuffle % (heard.length || 1)),
            ...heard.slice(0, shuffle % (heard.length || 1)),
          ]
          const group = shareGroup(self, rotated)!
          assert.deepEqual(group, shareGroup(self, heard))
          const mine = ownShare(count, group, self)
          for (let i = 0; i < count; i++) owners[i]! += mine[i]!
        }
        assert.ok(owners.every((n) => n === 1))
      }),
    )
  })

  it('gives each download about its fair part', () => {
    fc.assert(
      fc.property(ids(2, 8), (peers) => {
        const count = 4096
        for (const self of peers) {
          const held = ownShare(count, shareGroup(self, peers)!, self).reduce((a, b) => a + b, 0)
          const fair = count / peers.length
          assert.ok(Math.abs(held - fair) < fair * 0.3, `${held} of ${count} among ${peers.length}`)
        }
      }),
      { numRuns: 30 },
    )
  })

  it('moves only the chunks of a download that leaves', () => {
    fc.assert(
      fc.property(ids(3, 12), fc.integer({ min: 1, max: 400 }), (peers, count) => {
        const [self, gone] = peers as [string, string]
        const before = ownShare(count, shareGroup(self, peers)!, self)
        const after = ownShare(
          count,
          shareGroup(
            self,
            peers.slice(1).filter((p) => p !== gone),
          )!,
          self,
        )
        for (let i = 0; i < count; i++) if (before[i]) assert.equal(after[i], 1, `chunk ${i} left us`)
      }),
    )
  })

  it('has no group without our own ID, without another download, or when we are not among the lowest IDs', () => {
    assert.equal(shareGroup(undefined, ['a', 'b']), undefined)
    assert.equal(shareGroup('a', []), undefined)
    assert.equal(shareGroup('a', ['a']), undefined)
    assert.deepEqual(shareGroup('b', ['c', 'a', 'c']), ['a', 'b', 'c'])
    const many = Array.from({ length: MAX_SHARE_PEERS }, (_, i) => `peer-${String(i).padStart(3, '0')}`)
    assert.equal(shareGroup('zzz', many), undefined, 'a stranger announcing many IDs leaves us the random order')
    assert.equal(shareGroup('peer-000', [...many, 'zzz'])?.length, MAX_SHARE_PEERS)
  })

  it('splits again when the group changes, but at most once a second (a stranger changing it costs little)', () => {
    let clock = 0
    const share = new ChunkShare(4096, 'a', () => clock)
    const two = share.update(['b'])
    assert.deepEqual(two, ownShare(4096, ['a', 'b'], 'a'))
    assert.equal(share.update(['b']), two, 'the same group: the same split, not made again')
    clock = SHARE_REMAKE_MS - 1
    assert.equal(share.update(['b', 'c']), two, 'too soon: the last split stands')
    clock = SHARE_REMAKE_MS
    assert.deepEqual(share.update(['b', 'c']), ownShare(4096, ['a', 'b', 'c'], 'a'))
    assert.equal(share.update([]), undefined, 'alone: no share')
    assert.equal(new ChunkShare(8, undefined, () => 0).update(['b']), undefined, 'no ID of our own: no share')
  })

  it('two downloads of one seeder ask it for their own shares first, not the same chunks', () => {
    const count = 64
    const seeder = Bitfield.full(count)
    const download = (self: string, other: string): Scheduler => {
      const s = new Scheduler(count, { probeWindow: 64, window: 64, random: Math.random, selfPeerId: self })
      s.setPeer('seeder', seeder, 'seeder-id')
      s.setPeer(other, new Bitfield(count), other) // another download, nothing yet
      return s
    }
    const picks = (s: Scheduler, n: number): number[] => Array.from({ length: n }, () => s.next('seeder')!)
    const a = download('a', 'b')
    const b = download('b', 'a')
    const aShare = ownShare(count, ['a', 'b'], 'a')
    const aFirst = picks(
      a,
      aShare.reduce((x, y) => x + y, 0),
    )
    const bFirst = picks(b, count - aFirst.length)
    assert.ok(aFirst.every((i) => aShare[i] === 1))
    assert.ok(bFirst.every((i) => aShare[i] === 0))
    assert.equal(new Set([...aFirst, ...bFirst]).size, count, 'between them, every chunk asked once')
    assert.ok(aFirst.length > 0 && bFirst.length > 0)
    assert.notEqual(a.next('seeder'), undefined, 'then the other share: a preference, never a wait')
  })

  it('puts our share first only among chunks equally rare', () => {
    const count = 32
    const s = new Scheduler(count, { probeWindow: 64, window: 64, random: Math.random, selfPeerId: 'a' })
    const mine = ownShare(count, ['a', 'b'], 'a')
    const theirs = [...mine.keys()].filter((i) => !mine[i])
    const second = new Bitfield(count)
    for (let i = 0; i < count; i++) if (i !== theirs[0]) second.set(i)
    s.setPeer('seeder', Bitfield.full(count), 'seeder-id')
    s.setPeer('second seeder', second, 'second-id') // only the seeder has theirs[0]: the rarest
    s.setPeer('b', new Bitfield(count), 'b')
    assert.equal(s.next('seeder'), theirs[0])
    assert.equal(mine[s.next('seeder')!], 1)
  })
})
