// The content dictionary's claims: the source address kept, peers merged per file and per claim, expiry and
// goodbyes, the dictionary file's round trip and the --json line.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { ContentDictionary } from '../../src/core/discovery/dictionary.js'
import { claimsFromSnapshot, jsonLine, toSnapshot } from '../../src/core/discovery/dictionary-file.js'
import { hasCode } from '../../src/core/errors.js'
import { announce, entry, id } from '../helpers/announcements.js'

describe('content dictionary', () => {
  it('records the source address, never one from the payload, and merges peers per file', () => {
    const d = new ContentDictionary()
    d.merge(announce('p1p1p1p1', 5000, [1, 2]), '10.0.0.1', 1000)
    d.merge(announce('p2p2p2p2', 5000, [2]), '10.0.0.2', 1000)
    assert.deepEqual(
      d
        .file(id(2))!
        .peers.map((p) => p.address)
        .sort(),
      ['10.0.0.1', '10.0.0.2'],
    )
    const json = toSnapshot(d.files(), { now: 2000, wallNow: 2000 })
    assert.equal(json.files[id(1)]!.peers[0]!.have, 'all')
    assert.equal(json.files[id(1)]!.peers[0]!.lastSeen, new Date(1000).toISOString())
  })

  it('expires a peer not heard from for staleAfter, and a goodbye removes it at once', () => {
    const d = new ContentDictionary()
    d.merge(announce('p1p1p1p1', 1, [1]), '10.0.0.1', 0)
    d.merge(announce('p2p2p2p2', 1, [1]), '10.0.0.2', 0)
    d.merge(announce('p2p2p2p2', 1, [1]), '10.0.0.2', 10_000)
    assert.ok(d.expire(15_001, 15_000))
    assert.deepEqual(
      d.file(id(1))!.peers.map((p) => p.address),
      ['10.0.0.2'],
    )
    assert.ok(d.merge(announce('p2p2p2p2', 1, []), '10.0.0.2', 10_001))
    assert.equal(d.fileCount, 0)
    assert.equal(d.bytes(), 0)
  })

  it('a goodbye counts only from the peer id that announced on that address and port', () => {
    const d = new ContentDictionary()
    d.merge(announce('honest01', 7000, [1]), '10.0.0.1', 0)
    assert.equal(d.merge(announce('spoofer1', 7000, []), '10.0.0.1', 1), false)
    assert.equal(d.file(id(1))!.peers.length, 1)
    assert.equal(d.stats.refused['goodbye-peer-id'], 1)
  })

  it('keeps claims per peer: a stranger giving the honest id another name, size or chunk count hides no honest peer', () => {
    const d = new ContentDictionary()
    d.merge(announce('honest01', 1, [1]), '10.0.0.1', 0)
    d.merge(announce('honest02', 1, [1]), '10.0.0.2', 0)
    // Later, the stranger: the honest id under another name and with one chunk more; his own file under the wanted name.
    d.merge(
      {
        type: 'announce',
        peer: 'stranger',
        port: 1,
        files: [entry(1, { name: 'other', size: 5 * 4096, chunks: 5 }), entry(2, { name: 'f1' })],
      },
      '10.0.0.66',
      1,
    )
    const honest = d.file(id(1))!
    assert.equal(honest.peers.length, 3)
    assert.deepEqual(honest.peers.map((p) => [p.address, p.name, p.chunks]).sort(), [
      ['10.0.0.1', 'f1', 4],
      ['10.0.0.2', 'f1', 4],
      ['10.0.0.66', 'other', 5],
    ])
    assert.equal(honest.disputed, true)
    assert.deepEqual([honest.name, honest.chunks], ['f1', 4], 'shown: the claim most peers make')
    assert.deepEqual(
      d
        .files()
        .filter((f) => f.peers.some((p) => p.name === 'f1'))
        .map((f) => f.id)
        .sort(),
      [id(1), id(2)],
      'the wanted name is claimed by two ids',
    )
    // The stranger changing his own word replaces only his own claim.
    d.merge({ type: 'announce', peer: 'stranger', port: 1, files: [entry(1, { name: 'third' })] }, '10.0.0.66', 2)
    assert.deepEqual(
      d
        .file(id(1))!
        .peers.map((p) => p.name)
        .sort(),
      ['f1', 'f1', 'third'],
    )
  })

  it('the dictionary file round-trips every claim, skips claims that break the rules, and reads a version-1 file', () => {
    const d = new ContentDictionary()
    d.merge(announce('p1p1p1p1', 5000, [1], new Bitfield(4, new Uint8Array([0xa0]))), '10.0.0.1', 1000)
    d.merge(
      {
        type: 'announce',
        peer: 'p2p2p2p2',
        port: 5000,
        files: [entry(1, { name: 'other', size: 5 * 4096, chunks: 5 })],
      },
      '10.0.0.2',
      1000,
    )
    const snapshot = JSON.parse(JSON.stringify(toSnapshot(d.files(), { now: 1000, wallNow: 50_000 })))
    const back = claimsFromSnapshot(snapshot, (wall) => wall - 49_000)
    assert.deepEqual(back[0]!.peers.map((p) => [p.name, p.chunks, p.have.indices(), p.lastSeen]).sort(), [
      ['f1', 4, [0, 2], 1000],
      ['other', 5, [0, 1, 2, 3, 4], 1000],
    ])
    snapshot.files[id(1)].peers[1].chunks = 1 << 24 // disagrees with its size
    snapshot.files[id(1)].peers.push({ ...snapshot.files[id(1)].peers[0], have: '////' })
    assert.equal(claimsFromSnapshot(snapshot, (w) => w)[0]!.peers.length, 1)
    const v1 = {
      updatedAt: 'x',
      files: {
        [id(3)]: {
          name: 'old.bin',
          size: 10,
          chunks: 1,
          peers: [{ peer: 'p', address: '10.0.0.3', port: 1, have: 'all', lastSeen: new Date(0).toISOString() }],
        },
      },
    }
    assert.deepEqual(
      claimsFromSnapshot(v1, (w) => w).map((f) => [f.name, f.peers[0]!.name, f.peers[0]!.have.count()]),
      [['old.bin', 'old.bin', 1]],
    )
    // A file's own size and chunk count are whole numbers, as a peer's are: an entry with 1.5 chunks or 1e999
    // bytes is skipped, and the file's other entries are read.
    for (const bad of [{ chunks: 1.5, size: 8000 }, { size: JSON.parse('1e999') as number }, { size: -1 }]) {
      const files = { [id(3)]: { ...v1.files[id(3)]!, ...bad }, [id(4)]: v1.files[id(3)]! }
      assert.deepEqual(
        claimsFromSnapshot({ ...v1, files }, (w) => w).map((f) => f.id),
        [id(4)],
        JSON.stringify(bad),
      )
    }
    assert.throws(
      () => claimsFromSnapshot({ files: {} }, (w) => w),
      (e) => hasCode(e, 'E_BAD_DATAGRAM'),
    )
  })

  it('the --json line stays under its cap, giving held counts and how many files it left out, "ok" as every --json line', () => {
    const d = new ContentDictionary()
    for (let i = 0; i < 500; i++) d.merge(announce(`peer${String(i).padStart(4, '0')}`, 1, [i]), `10.0.${i % 250}.1`, i)
    const line = jsonLine(d.files(), { now: 500, wallNow: 0 }, 20_000)
    assert.ok(Buffer.byteLength(line) <= 20_000)
    const parsed = JSON.parse(line) as {
      ok: boolean
      files: Record<string, { peers: Array<{ held: number }> }>
      omitted: number
    }
    assert.equal(parsed.ok, true)
    assert.equal(Object.keys(parsed.files).length + parsed.omitted, 500)
    assert.ok(parsed.omitted > 0)
    assert.equal(Object.values(parsed.files)[0]!.peers[0]!.held, 4)
  })
})
