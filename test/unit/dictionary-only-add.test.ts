import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import type { AnnouncedFile, Announcement } from '../../src/core/discovery/announcement.js'
import { ContentDictionary, PEER_IDS_HEARD } from '../../src/core/discovery/dictionary.js'

/**
 * A download's dictionary (`claimsOnlyAdd`): a peer's claims about a file
 * only add chunks, and once the manifest is known one of another chunk
 * count is refused, so a stranger repeating a seeder's announcement under
 * its address, port and peer ID cannot take its chunks away. p2p-listen's
 * (the default) takes each peer's new word in place of its old one.
 */

const ID = 'a'.repeat(64)
const CHUNKS = 24
const field = (indices: readonly number[], length = CHUNKS): Bitfield => {
  const b = new Bitfield(length)
  for (const i of indices) b.set(i)
  return b
}
const claim = (have: Bitfield | 'all', o: Partial<AnnouncedFile> = {}): Announcement => ({
  type: 'announce',
  peer: 'seeder1',
  port: 4000,
  files: [{ id: ID, name: 'movie.bin', size: CHUNKS * 4096, chunks: CHUNKS, have, from: 0, ...o }],
})
const heldBy = (d: ContentDictionary): number[] | undefined => d.file(ID)?.peers[0]?.have.indices()

describe("a download's dictionary: claims only add", () => {
  it('property: every peer ID heard for an address and port is listed, heard longest ago first, the newest last, at most 32; p2p-listen keeps none', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 300 }), (order) => {
        const download = new ContentDictionary({}, true)
        const listen = new ContentDictionary()
        const model: string[] = []
        for (const [at, n] of order.entries()) {
          const peer = `id${n}`
          download.merge({ ...claim('all'), peer }, '10.0.0.1', at)
          listen.merge({ ...claim('all'), peer }, '10.0.0.1', at)
          if (model.includes(peer)) model.splice(model.indexOf(peer), 1)
          model.push(peer)
        }
        assert.deepEqual(download.file(ID)?.peers[0]?.heard, model.slice(-PEER_IDS_HEARD))
        assert.equal(download.file(ID)?.peers[0]?.peer, model[model.length - 1])
        assert.equal(listen.file(ID)?.peers[0]?.heard, undefined)
      }),
    )
  })

  it('with an allow-list, only the peer IDs it lists are remembered as heard: unlisted ones forged for the address push nothing out', () => {
    const download = new ContentDictionary({}, true, (peer) => peer === 'listed')
    download.merge({ ...claim('all'), peer: 'listed' }, '10.0.0.1', 1)
    for (let i = 0; i < 100; i++) download.merge({ ...claim('all'), peer: `forged${i}` }, '10.0.0.1', 2 + i)
    assert.deepEqual(download.file(ID)?.peers[0]?.heard, ['listed'])
    assert.equal(download.file(ID)?.peers[0]?.peer, 'forged99', 'the newest word is still what it is')
  })

  it('a claim with fewer chunks takes none away; p2p-listen takes it in place', () => {
    const download = new ContentDictionary({}, true)
    const listen = new ContentDictionary()
    for (const [have, at] of [
      [field([0, 1, 2]), 1],
      [field([]), 2], // a stranger's "none", under the seeder's address, port and peer ID
      [field([5]), 3],
    ] as const) {
      download.merge(claim(have), '10.0.0.1', at)
      listen.merge(claim(have), '10.0.0.1', at)
    }
    assert.deepEqual(heldBy(download), [0, 1, 2, 5])
    assert.deepEqual(heldBy(listen), [5])
  })

  it("a goodbye, forged or not, takes nothing away and is counted unheeded; p2p-listen's removes the peer", () => {
    const download = new ContentDictionary({}, true)
    const listen = new ContentDictionary()
    for (const d of [download, listen]) {
      d.merge(claim('all'), '10.0.0.1', 1)
      assert.equal(d.merge({ type: 'announce', peer: 'seeder1', port: 4000, files: [] }, '10.0.0.1', 2), d === listen)
    }
    assert.equal(heldBy(download)?.length, CHUNKS)
    assert.equal(download.stats.refused['goodbye-unheeded'], 1)
    assert.equal(listen.file(ID), undefined)
  })

  it('a slice adds its bits where it lies', () => {
    const d = new ContentDictionary({}, true)
    d.merge(claim(field([0])), '10.0.0.1', 1)
    d.merge(claim(field([1], 16), { from: 8 }), '10.0.0.1', 2)
    assert.deepEqual(heldBy(d), [0, 9])
  })

  it('before the manifest, a claim that says the file is another replaces the first (as in p2p-listen); after it, one of another chunk count is refused and counted, and one that only names it otherwise keeps the chunks', () => {
    const d = new ContentDictionary({}, true)
    d.merge(claim('all'), '10.0.0.1', 1)
    d.merge(claim(field([]), { chunks: CHUNKS + 1, size: (CHUNKS + 1) * 4096 }), '10.0.0.1', 2)
    assert.equal(d.file(ID)?.chunks, CHUNKS + 1, 'nothing says which is true yet')
    d.settle(ID, CHUNKS) // the manifest: the claim of CHUNKS + 1 goes now
    assert.equal(d.file(ID), undefined)
    d.merge(claim(field([3])), '10.0.0.1', 3)
    d.merge(claim(field([]), { chunks: CHUNKS + 1, size: (CHUNKS + 1) * 4096 }), '10.0.0.1', 4)
    assert.equal(d.stats.refused['unlike-manifest'], 2, 'the one settle dropped, and the one refused after')
    d.merge(claim(field([4]), { name: 'other.bin', size: 1 }), '10.0.0.1', 5)
    assert.deepEqual(heldBy(d), [3, 4])
    assert.equal(d.file(ID)?.name, 'other.bin', "the peer's latest word on the rest")
    const listen = new ContentDictionary()
    listen.settle(ID, CHUNKS) // p2p-listen's: no manifest decides there
    listen.merge(claim('all', { chunks: CHUNKS + 1, size: (CHUNKS + 1) * 4096 }), '10.0.0.1', 1)
    assert.equal(listen.file(ID)?.chunks, CHUNKS + 1)
  })

  it("a stranger's slices over a seeder's claim of every chunk of a large file make no have-set and cost no budget: the claim stays whole (charged, they had the rate limit drop it)", () => {
    const chunks = 2 ** 20 // a have-set of 128 KiB: 40 of them pass the 4 MiB an address may make at once
    const big = (have: Bitfield | 'all', from = 0): Announcement => ({
      ...claim(have),
      files: [{ id: ID, name: 'big.bin', size: chunks * 4096, chunks, have, from }],
    })
    const d = new ContentDictionary({}, true)
    d.merge(big('all'), '10.0.0.1', 0)
    d.settle(ID, chunks)
    for (let i = 0; i < 40; i++) d.merge(big(field([0], 8), 8 * i), '10.0.0.1', 1 + i)
    assert.equal(d.file(ID)?.peers[0]?.have.isComplete(), true)
    assert.equal(d.file(ID)?.peers[0]?.have.heldBytes, 0, 'no have-set made')
    assert.deepEqual(d.stats.refused, {})
  })

  it('a claim without "transport" leaves a path that spoke "noise" encrypted (it would have hidden it); p2p-listen shows the latest word', () => {
    for (const [d, after] of [
      [new ContentDictionary({}, true), 'noise'],
      [new ContentDictionary(), undefined],
    ] as const) {
      d.merge({ ...claim('all'), transport: 'noise' }, '10.0.0.1', 1)
      d.merge(claim('all'), '10.0.0.1', 2)
      assert.equal(d.file(ID)?.peers[0]?.transport, after)
    }
  })

  it('property: what a peer is held to have is the union of every claim it was heard to make ("all" included)', () => {
    const arbClaim = fc.oneof(
      fc.constant<'all'>('all'),
      fc.uniqueArray(fc.nat(CHUNKS - 1), { maxLength: CHUNKS }).map((indices) => field(indices)),
    )
    fc.assert(
      fc.property(fc.array(arbClaim, { minLength: 1, maxLength: 10 }), (claims) => {
        const d = new ContentDictionary({}, true)
        const union = new Set<number>()
        claims.forEach((have, at) => {
          d.merge(claim(have), '10.0.0.1', at)
          for (let i = 0; i < CHUNKS; i++) if (have === 'all' || have.get(i)) union.add(i)
          assert.deepEqual(
            heldBy(d),
            [...union].sort((a, b) => a - b),
          )
        })
      }),
    )
  })
})
