import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import type { AnnouncedFile, Announcement } from '../../src/core/discovery/announcement.js'
import type { KnownFile, PeerSource } from '../../src/core/discovery/claims.js'
import {
  MAX_IDS_PER_WANTED_NAME,
  wantedClaims,
  wantedFiles,
  wantedPart,
} from '../../src/core/discovery/wanted-claims.js'

const ids = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64), 'd'.repeat(64)]
const names = ['want.bin', 'other.bin', 'renamed.bin']
const claim = fc.record({
  id: fc.constantFrom(...ids),
  name: fc.constantFrom(...names),
  peer: fc.constantFrom('LISTED', 'STRANGER'),
})

const file = (id: string, name: string): AnnouncedFile => ({ id, name, size: 10, chunks: 1, have: 'all', from: 0 })
const announcement = (files: AnnouncedFile[]): Announcement => ({ type: 'announce', peer: 'p', port: 7001, files })

describe('wantedClaims: what a download keeps of what it hears', () => {
  it('by id: exactly that id, under any name', () => {
    fc.assert(
      fc.property(fc.array(claim, { maxLength: 40 }), (claims) => {
        const keep = wantedClaims({ id: ids[0] })!
        for (const c of claims) assert.equal(keep(c.id, c.name, c.peer), c.id === ids[0])
      }),
    )
  })

  it('by name: every claim of the name, and a claim under another name exactly when its id was heard under the name before', () => {
    fc.assert(
      fc.property(fc.array(claim, { maxLength: 60 }), (claims) => {
        const keep = wantedClaims({ name: 'want.bin' })!
        const heard = new Set<string>()
        for (const c of claims) {
          const expected = c.name === 'want.bin' || heard.has(c.id)
          assert.equal(keep(c.id, c.name, c.peer), expected, JSON.stringify(c))
          if (c.name === 'want.bin') heard.add(c.id)
        }
      }),
    )
  })

  it('by name: the ids a name brings in are bounded (past the bound, claims of the name still count by name)', () => {
    const keep = wantedClaims({ name: 'want.bin' })!
    const id = (i: number): string => i.toString(16).padStart(64, '0')
    for (let i = 0; i < MAX_IDS_PER_WANTED_NAME + 10; i++) assert.ok(keep(id(i), 'want.bin', 'P'))
    assert.ok(keep(id(0), 'renamed.bin', 'P'), 'an id within the bound')
    assert.ok(!keep(id(MAX_IDS_PER_WANTED_NAME + 5), 'renamed.bin', 'P'), 'an id past the bound, by another name')
    assert.ok(keep(id(MAX_IDS_PER_WANTED_NAME + 5), 'want.bin', 'P'), 'the same id by the name')
  })

  it("by name with heeded peers (an allow-list): an unheeded peer's claims count for nothing, and bring no id in; each one of the name is told", () => {
    fc.assert(
      fc.property(fc.array(claim, { maxLength: 60 }), (claims) => {
        const told: string[] = []
        const keep = wantedClaims(
          { name: 'want.bin' },
          (peer) => peer === 'LISTED',
          (peer) => told.push(peer),
        )!
        const heard = new Set<string>()
        for (const c of claims) {
          const expected = c.peer === 'LISTED' && (c.name === 'want.bin' || heard.has(c.id))
          assert.equal(keep(c.id, c.name, c.peer), expected, JSON.stringify(c))
          if (c.peer === 'LISTED' && c.name === 'want.bin') heard.add(c.id)
        }
        const unheededOfName = claims.filter((c) => c.peer === 'STRANGER' && c.name === 'want.bin').length
        assert.deepEqual(told, Array(unheededOfName).fill('STRANGER'))
        // A claim read from a dictionary file may be a day old: kept or not as heard, but never told.
        for (const c of claims) keep(c.id, c.name, c.peer, true)
        assert.equal(told.length, unheededOfName, 'claims read from a file are not told')
      }),
    )
  })

  it('without a want: every claim (the interactive picker lists the LAN)', () => {
    assert.equal(wantedClaims(undefined), undefined)
    assert.equal(wantedClaims({}), undefined)
  })
})

describe('wantedPart: an announcement cut to what is wanted', () => {
  it('keeps the wanted claims in order, counts the rest, and never turns a claim into a goodbye', () => {
    fc.assert(
      fc.property(fc.array(claim, { maxLength: 12 }), fc.boolean(), (claims, filtered) => {
        const a = announcement(claims.map((c) => file(c.id, c.name)))
        const keep = filtered ? wantedClaims({ id: ids[1] }) : undefined
        const { kept, unwanted } = wantedPart(a, keep)
        const expected = keep ? a.files.filter((f) => keep(f.id, f.name, a.peer)) : a.files
        assert.equal(unwanted, a.files.length - expected.length)
        if (a.files.length === 0) assert.equal(kept, a, 'a goodbye passes as it is')
        else if (expected.length === 0) assert.equal(kept, undefined, 'nothing wanted: nothing to merge, not a goodbye')
        else {
          assert.deepEqual(kept?.files, expected)
          assert.equal(kept?.peer, a.peer)
          assert.equal(kept?.port, a.port)
        }
      }),
    )
  })
})

describe('wantedFiles: the dictionary file read through the same filter', () => {
  const peer = (name: string, port: number): PeerSource => ({
    peer: `p${port}`,
    address: '127.0.0.1',
    port,
    name,
    size: 10,
    chunks: 1,
    have: Bitfield.full(1),
    lastSeen: 0,
  })
  const known = (id: string, peers: PeerSource[]): KnownFile => ({
    id,
    name: peers[0]!.name,
    size: 10,
    chunks: 1,
    disputed: false,
    peers,
  })

  it('keeps each file with its wanted peers only, and drops files left with none', () => {
    const files = [
      known(ids[0]!, [peer('other.bin', 1), peer('want.bin', 2)]),
      known(ids[1]!, [peer('other.bin', 3)]),
      known(ids[2]!, [peer('want.bin', 4)]),
      known(ids[3]!, [peer('other.bin', 5), peer('want.bin', 6)]),
    ]
    const kept = wantedFiles(
      files,
      wantedClaims({ name: 'want.bin' }, (p) => p !== 'p6'),
    )
    assert.deepEqual(
      kept.map((f) => [f.id, f.peers.map((p) => p.port)]),
      [
        [ids[0], [1, 2]], // its claim under another name counts, though listed before the name's (review)
        [ids[2], [4]],
      ],
    )
    assert.equal(wantedFiles(files, undefined), files)
  })
})
