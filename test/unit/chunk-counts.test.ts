import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { ChunkCounts, type Holder } from '../../src/core/download/chunk-counts.js'

/** A peer as the scheduler's record shows it to the counts, every part of it changeable. */
interface FakePeer {
  have: Bitfield
  banned: string | undefined
  writtenOff: boolean
  denials: Bitfield | undefined
}

/** The counts made afresh, bit by bit, from the peers as they are: what the incremental counts must equal. */
function reference(count: number, peers: ReadonlyMap<string, Holder>) {
  const holders = new Array<number>(count).fill(0)
  const usable = new Array<number>(count).fill(0)
  const held = new Map<string, number>()
  for (const [key, p] of peers) {
    if (p.banned !== undefined) continue
    let n = 0
    for (let i = 0; i < count; i++) {
      if (!p.have.get(i)) continue
      n++
      holders[i]!++
      if (!p.writtenOff && !(p.denials?.get(i) ?? false)) usable[i]!++
    }
    held.set(key, n)
  }
  return { holders, usable, held }
}

/** One thing that can happen to a peer (`peer` picks one of a few keys; `at` a chunk, modulo the count). */
type Step =
  | {
      kind: 'announce'
      peer: number
      full: boolean
      bytes: number[]
      as: 'fresh' | 'banned' | 'writtenOff' | 'denying'
    } // joins (as given), or announces a new field object
  | { kind: 'flip'; peer: number; at: number } // one bit of its field changed in place (the dictionary's own)
  | { kind: 'slice'; peer: number; at: number; bytes: number[] } // a slice of its field overwritten in place
  | { kind: 'deny'; peer: number; at: number }
  | { kind: 'writeOff'; peer: number }
  | { kind: 'ban'; peer: number }
  | { kind: 'leave'; peer: number }
  | { kind: 'undo'; peer: number } // unbanned, no longer written off, its denials lapsed (a peer record starts afresh)
  | { kind: 'look' } // the counts are brought up to date and compared

const peerIndex = fc.nat({ max: 3 })
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('announce' as const),
    peer: peerIndex,
    full: fc.boolean(),
    bytes: fc.array(fc.nat({ max: 255 }), { maxLength: 16, size: 'medium' }),
    as: fc.constantFrom('fresh' as const, 'banned' as const, 'writtenOff' as const, 'denying' as const),
  }),
  fc.record({ kind: fc.constant('flip' as const), peer: peerIndex, at: fc.nat() }),
  fc.record({
    kind: fc.constant('slice' as const),
    peer: peerIndex,
    at: fc.nat(),
    bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('deny' as const), peer: peerIndex, at: fc.nat() }),
  fc.record({ kind: fc.constant('writeOff' as const), peer: peerIndex }),
  fc.record({ kind: fc.constant('ban' as const), peer: peerIndex }),
  fc.record({ kind: fc.constant('leave' as const), peer: peerIndex }),
  fc.record({ kind: fc.constant('undo' as const), peer: peerIndex }),
  fc.constant({ kind: 'look' as const }),
)

/** A `count`-bit field from arbitrary bytes (repeated to length, bits past the end cleared). */
function fieldOf(count: number, bytes: readonly number[]): Bitfield {
  const out = new Uint8Array(Math.ceil(count / 8))
  for (let i = 0; i < out.length; i++) out[i] = bytes.length ? bytes[i % bytes.length]! : 0
  if (count % 8 !== 0 && out.length > 0) out[out.length - 1]! &= (0xff00 >> (count % 8)) & 0xff
  return new Bitfield(count, out)
}

function play(count: number, peers: Map<string, FakePeer>, step: Step): void {
  if (step.kind === 'look') return
  const key = `p${step.peer}`
  const peer = peers.get(key)
  if (step.kind === 'announce') {
    const have = step.full ? Bitfield.full(count) : fieldOf(count, step.bytes)
    if (peer) peer.have = have
    else {
      // A new record under the key (a peer left and came back, or first seen), perhaps banned or denying already.
      const denials = step.as === 'denying' && count > 0 ? new Bitfield(count) : undefined
      denials?.set(0)
      const banned = step.as === 'banned' ? 'lied' : undefined
      peers.set(key, { have, banned, writtenOff: step.as === 'writtenOff', denials })
    }
    return
  }
  if (!peer) return
  if (step.kind === 'flip' && count > 0) peer.have.set(step.at % count, !peer.have.get(step.at % count))
  if (step.kind === 'slice' && count >= 8) {
    const size = Math.ceil(count / 8)
    const bytes = Uint8Array.from(step.bytes.slice(0, size))
    const from = step.at % (size - bytes.length + 1)
    if (from + bytes.length === size && count % 8 !== 0) bytes[bytes.length - 1]! &= (0xff00 >> (count % 8)) & 0xff
    peer.have.setBytes(from, bytes)
  }
  if (step.kind === 'deny' && count > 0) {
    peer.denials ??= new Bitfield(count)
    peer.denials.set(step.at % count)
  }
  if (step.kind === 'writeOff') peer.writtenOff = true
  if (step.kind === 'ban') peer.banned = 'lied'
  if (step.kind === 'leave') peers.delete(key)
  if (step.kind === 'undo') Object.assign(peer, { banned: undefined, writtenOff: false, denials: undefined })
}

function assertCurrent(counts: ChunkCounts, peers: Map<string, FakePeer>): void {
  counts.refresh(peers)
  const expected = reference(counts.count, peers)
  const holders = Array.from({ length: counts.count }, (_, i) => counts.holdersOf(i))
  const usable = Array.from({ length: counts.count }, (_, i) => counts.usableOf(i))
  assert.deepEqual(holders, expected.holders, 'holders')
  assert.deepEqual(usable, expected.usable, 'usable')
  for (const key of peers.keys()) assert.equal(counts.heldBy(key), expected.held.get(key) ?? 0, `held by ${key}`)
}

describe('chunk counts', () => {
  it('property: counted as peers join, change, deny, are written off, banned and leave, they equal a count made afresh', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.array(arbStep, { maxLength: 80, size: 'large' }),
        (count, steps) => {
          const counts = new ChunkCounts(count)
          const peers = new Map<string, FakePeer>()
          for (const step of steps) {
            play(count, peers, step)
            if (step.kind === 'look') assertCurrent(counts, peers)
          }
          assertCurrent(counts, peers)
          for (const key of [...peers.keys()]) peers.delete(key)
          assertCurrent(counts, peers) // everyone gone: every count back to zero
        },
      ),
      { numRuns: 500 },
    )
  })

  it('sees a bit cleared and set again between two looks (no change), and a new field object with the same bits', () => {
    const counts = new ChunkCounts(40)
    const have = fieldOf(40, [0xf0])
    const peers = new Map<string, FakePeer>([['a', { have, banned: undefined, writtenOff: false, denials: undefined }]])
    assertCurrent(counts, peers)
    have.set(0, false)
    have.set(0)
    assertCurrent(counts, peers)
    peers.get('a')!.have = fieldOf(40, [0xf0])
    assertCurrent(counts, peers)
  })

  it('counts a peer that joins holding every chunk once for all chunks, then per chunk only what it lacks', () => {
    const counts = new ChunkCounts(9)
    const have = Bitfield.full(9)
    const peers = new Map<string, FakePeer>([['s', { have, banned: undefined, writtenOff: false, denials: undefined }]])
    assertCurrent(counts, peers)
    have.set(8, false)
    assertCurrent(counts, peers)
    peers.set('p', { have: fieldOf(9, [0x80]), banned: undefined, writtenOff: false, denials: undefined })
    assertCurrent(counts, peers)
    peers.delete('s')
    assertCurrent(counts, peers)
    peers.delete('p')
    assertCurrent(counts, peers)
  })

  it('leaves a field of every chunk without bytes (a seeder costs no copy, and its claim keeps costing nothing)', () => {
    const counts = new ChunkCounts(1000)
    const have = Bitfield.full(1000)
    counts.refresh(new Map([['seeder', { have, banned: undefined, writtenOff: false, denials: undefined }]]))
    assert.equal(have.heldBytes, 0)
    assert.equal(counts.heldBy('seeder'), 1000)
  })
})
