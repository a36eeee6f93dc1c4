import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import type { KnownFile, PeerSource } from '../../src/core/discovery/claims.js'
import {
  claimsFromSnapshot,
  dictionaryFileWriter,
  readDictionaryFile,
  snapshotText,
  toSnapshot,
} from '../../src/core/discovery/dictionary-file.js'
import { tmpDir } from '../helpers/files.js'

const HEX = (length: number) =>
  fc.uint8Array({ minLength: length / 2, maxLength: length / 2 }).map((b) => Buffer.from(b).toString('hex'))

/** Names that JSON escapes, or that look like the text's own structure. */
const NAME = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('"peers": []', 'a\nb', '\u202e.exe', '💣', '\\"peers\\": []', ''),
)

const CLAIM: fc.Arbitrary<PeerSource> = fc
  .record({
    peer: HEX(16),
    noise: fc.boolean(),
    address: fc.constantFrom('127.0.0.1', '::1', 'fe80::1%lo'),
    port: fc.integer({ min: 1, max: 65535 }),
    name: NAME,
    chunks: fc.integer({ min: 0, max: 300 }),
    files: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
    all: fc.boolean(),
    seed: fc.integer({ min: 0, max: 255 }),
    lastSeen: fc.integer({ min: 0, max: 100_000 }),
  })
  .map((c) => {
    const have = c.all ? Bitfield.full(c.chunks) : new Bitfield(c.chunks)
    if (!c.all) for (let i = c.seed % 3; i < c.chunks; i += 1 + (c.seed % 7)) have.set(i)
    return {
      peer: c.peer,
      ...(c.noise ? { transport: 'noise' as const } : {}),
      address: c.address,
      port: c.port,
      name: c.name,
      size: c.chunks * 1000,
      chunks: c.chunks,
      ...(c.files === undefined ? {} : { files: c.files }),
      have,
      lastSeen: c.lastSeen,
    }
  })

const FILE: fc.Arbitrary<KnownFile> = fc
  .record({
    id: HEX(64),
    name: NAME,
    chunks: fc.integer({ min: 0, max: 300 }),
    files: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
    disputed: fc.boolean(),
    peers: fc.array(CLAIM, { maxLength: 4 }),
  })
  .map((f) => ({
    id: f.id,
    name: f.name,
    size: f.chunks * 1000,
    chunks: f.chunks,
    ...(f.files === undefined ? {} : { files: f.files }),
    disputed: f.disputed,
    peers: f.peers,
  }))

const CLOCKS = fc.record({
  now: fc.integer({ min: 100_000, max: 200_000 }),
  wallNow: fc.integer({ min: 1.6e12, max: 1.9e12 }),
  via: fc.option(
    fc.constant((address: string) => (address.includes(':') ? 'ipv6' : 'broadcast')),
    {
      nil: undefined,
    },
  ),
})

describe('the dictionary file made claim by claim (dictionary-file.ts snapshotText)', () => {
  it('is, byte for byte, the snapshot as JSON.stringify writes it with one space of indent', () => {
    fc.assert(
      fc.property(fc.array(FILE, { maxLength: 5 }), CLOCKS, (files, clocks) => {
        const c = clocks.via === undefined ? { now: clocks.now, wallNow: clocks.wallNow } : clocks
        const whole = `${JSON.stringify(toSnapshot(files, c), null, 1)}\n`
        assert.equal([...snapshotText(files, c)].join(''), whole)
      }),
      { numRuns: 300 },
    )
  })

  it('is written whole through the writer, in several batches (multibyte names, a 2 MB have-set), and read back as the snapshot it is', async (t) => {
    const path = join(await tmpDir(t), 'dict.json')
    const files = fc.sample(fc.array(FILE, { minLength: 3, maxLength: 6 }), { numRuns: 1, seed: 7 })[0]!
    const chunks = 12 * 1024 * 1024 // a 1.5 MiB have-set: 2 MB of base64, several of the writer's batches
    const big = new Bitfield(chunks)
    for (let i = 0; i < chunks; i += 3) big.set(i)
    const name = 'ünïcødé 💣.bin'
    const size = chunks * 4096
    const claim = { peer: 'p'.repeat(16), address: '127.0.0.1', port: 7001, name, size, chunks, have: big, lastSeen: 1 }
    files.push({ id: 'b'.repeat(64), name, size, chunks, disputed: false, peers: [claim] })
    const c = { now: 150_000, wallNow: 1.8e12 }
    const writer = dictionaryFileWriter(
      path,
      () => snapshotText(files, c),
      (err) => assert.fail(String(err)),
    )
    writer.request()
    await writer.flush()
    assert.equal(await readFile(path, 'utf8'), `${JSON.stringify(toSnapshot(files, c), null, 1)}\n`)
    assert.equal(
      (await stat(path)).mode & 0o777,
      0o600,
      "its owner's alone (in a private swarm it holds what the wire seals)",
    )
    const read = claimsFromSnapshot(await readDictionaryFile(path), (wall) => wall)
    const big2 = read.find((f) => f.id === 'b'.repeat(64))
    assert.ok(big2, 'the large claim reads back')
    assert.equal(big2.peers[0]!.have.count(), big.count())
  })
})
