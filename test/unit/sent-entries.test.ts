import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { entryEncoder, type LocalFile } from '../../src/core/discovery/announcement-encode.js'
import { SentEntries } from '../../src/core/discovery/sent-entries.js'

const CHUNKS = 1200
/** Datagrams this small put a have-set of CHUNKS in a few slices. */
const encode = entryEncoder('peer-one', 5001, { maxBytes: 300 })
const ids = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64))

/** A have-set of CHUNKS by pattern: complete, empty, or some chunks, so that one slice may change and the others not. */
function haveOf(pattern: number): Bitfield {
  if (pattern === 0) return Bitfield.full(CHUNKS)
  const have = new Bitfield(CHUNKS)
  for (let i = 0; i < CHUNKS; i++)
    if (pattern === 2 ? i < 300 : pattern === 3 ? i % 3 === 0 : pattern === 4) have.set(i)
  return have
}

const fileOf = (which: number, pattern: number): LocalFile => ({
  id: ids[which]!,
  name: `file-${which}`,
  size: CHUNKS * 4096,
  have: haveOf(pattern),
})

/** A store as a burst sees it: up to four files, each with a have-set of one of five patterns. */
const storeState = fc
  .uniqueArray(fc.tuple(fc.nat(3), fc.nat(5)), { selector: ([which]) => which, maxLength: 4 })
  .map((files) => files.map(([which, pattern]) => fileOf(which, pattern)))

/** What a receiver makes of entries (protocol.md): "all", or the bits of a slice from its `from`. */
function apply(held: Map<string, Uint8Array>, text: string): void {
  const entry = JSON.parse(text) as { id: string; have: string; from?: number }
  if (entry.have === 'all') return void held.set(entry.id, Bitfield.full(CHUNKS).bytes)
  const bits = Uint8Array.from(held.get(entry.id) ?? new Uint8Array(CHUNKS / 8))
  bits.set(Buffer.from(entry.have, 'base64'), (entry.from ?? 0) / 8)
  held.set(entry.id, bits)
}

const sliceOf = (text: string): string => {
  const { id, from } = JSON.parse(text) as { id: string; from?: number }
  return `${id}/${from ?? 0}`
}

describe('sent-entries: a burst for a change carries what changed', () => {
  it('property: after every burst a receiver that missed nothing holds each have-set; a burst for a change repeats nothing it was told', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(storeState, fc.boolean()), { maxLength: 25 }), (bursts) => {
        const sent = new SentEntries()
        // The receiver, pessimistic: a file the store stopped announcing may have expired there, so it is forgotten.
        let held = new Map<string, Uint8Array>()
        let told = new Map<string, string>()
        for (const [files, whole] of bursts) {
          const current = new Set(files.map((f) => f.id))
          held = new Map([...held].filter(([id]) => current.has(id)))
          told = new Map([...told].filter(([slice]) => current.has(slice.slice(0, 64))))
          const picked = sent.pick(files, encode, whole)
          for (const text of picked.flat()) {
            if (!whole) assert.notEqual(told.get(sliceOf(text)), text, 'told again')
            // "all" stands for every slice: what the receiver was told of them before no longer holds.
            const { id, have } = JSON.parse(text) as { id: string; have: string }
            if (have === 'all') told = new Map([...told].filter(([slice]) => !slice.startsWith(id)))
            told.set(sliceOf(text), text)
            apply(held, text)
          }
          for (const f of files) assert.deepEqual(held.get(f.id), f.have.bytes, `the receiver is behind on ${f.name}`)
          if (whole) assert.deepEqual(picked, files.map(encode))
          assert.equal(sent.storeBytes, Buffer.byteLength(files.flatMap(encode).join(',')), 'the whole store, packed')
          assert.equal(sent.size, files.length)
          for (const texts of picked) assert.ok(texts.length > 0, 'a file with nothing to send')
        }
      }),
      { numRuns: 500 },
    )
  })

  it('an entry that leaves the store and comes back as it was is sent again', () => {
    const sent = new SentEntries()
    const [a, b] = [fileOf(0, 0), fileOf(1, 0)]
    assert.equal(sent.pick([a, b], encode, true).length, 2)
    assert.deepEqual(sent.pick([a, b], encode, false), [])
    assert.deepEqual(sent.pick([a], encode, false), [])
    assert.deepEqual(sent.pick([a, b], encode, false), [encode(b)])
  })

  it('of a have-set in slices, only the slices that changed', () => {
    const sent = new SentEntries()
    const before = fileOf(0, 1)
    const after = fileOf(0, 1)
    after.have.set(CHUNKS - 1)
    assert.ok(encode(before).length > 2, `${encode(before).length} slices`)
    sent.pick([before], encode, true)
    assert.deepEqual(sent.pick([after], encode, false), [encode(after).slice(-1)])
  })
})
