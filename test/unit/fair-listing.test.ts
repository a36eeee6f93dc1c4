import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { listenTable, MAX_LISTED, summary } from '../../src/cli/listing.js'
import { addressKey } from '../../src/core/address-key.js'
import { Bitfield } from '../../src/core/bitfield.js'
import type { KnownFile } from '../../src/core/discovery/claims.js'
import { jsonLine, leastPartBytes } from '../../src/core/discovery/dictionary-file.js'
import { fairListing } from '../../src/core/discovery/fair-listing.js'

/**
 * Listings under a crowd (attacker pass): one stranger announcing 5,000 files pushed an honest peer's file out of
 * p2p-listen's --json line, its plain line's 50 names and its table's 50 rows. Listings now take files in turns
 * by source address (fair-listing.ts).
 */

const id = (n: number): string => `c${n.toString(16).padStart(63, '0')}`
const HONEST = 'f'.repeat(64)

/** A file with a claim from each of `addresses` (port 7000), complete. */
function file(fileId: string, name: string, addresses: string[]): KnownFile {
  const peers = addresses.map((address) => ({
    peer: 'peer0001',
    address,
    port: 7000,
    name,
    size: 1000,
    chunks: 1,
    have: Bitfield.full(1),
    lastSeen: 0,
  }))
  return { id: fileId, name, size: 1000, chunks: 1, disputed: false, peers }
}

/** A stranger's `count` files from one address, names that sort first, then the honest file (heard last, as an announcer heard again is). */
function crowd(count: number, stranger = '10.0.0.66'): KnownFile[] {
  const files = Array.from({ length: count }, (_, n) => file(id(n), `a${String(n).padStart(5, '0')}.bin`, [stranger]))
  return [...files, file(HONEST, 'zz-honest.bin', ['10.0.0.1'])]
}

describe('fairListing', () => {
  it("one address's 5,000 files leave room for another's, and the count left out is exact", () => {
    const files = crowd(5000)
    const { listed, omitted } = fairListing(files, MAX_LISTED)
    assert.equal(listed.length, MAX_LISTED)
    assert.equal(omitted, 5001 - MAX_LISTED)
    assert.ok(listed.some((f) => f.id === HONEST))
    assert.equal(new Set(listed).size, listed.length, 'no file twice')
  })

  it('a file several addresses announce comes before the files only one claims, wherever the crowd is', () => {
    const own = (address: string, count: number, from: number): KnownFile[] =>
      Array.from({ length: count }, (_, n) => file(id(from + n), `b${from + n}.bin`, [address]))
    const shared = file(HONEST, 'zz-shared.bin', ['10.0.0.1', '10.0.0.2'])
    const files = [...crowd(3000).slice(0, 3000), ...own('10.0.0.1', 200, 5000), ...own('10.0.0.2', 200, 6000), shared]
    for (const room of [1, 2, 3, 50]) assert.ok(fairListing(files, room).listed.includes(shared), `room ${room}`)
  })

  it('an IPv6 /64 is one source: a crowd of addresses in one /64 takes one turn', () => {
    const flood = Array.from({ length: 400 }, (_, n) =>
      file(id(n), `a${String(n).padStart(5, '0')}.bin`, [`2001:db8:1:2::${(n % 40).toString(16)}`]),
    )
    const files = [...flood, file(HONEST, 'zz-honest.bin', ['2001:db8:9:9::1'])]
    assert.ok(fairListing(files, 2).listed.some((f) => f.id === HONEST))
  })

  it('property: each source gets ⌊room / sources⌋ of the rows or all its files; the count is exact; the order does not depend on the input order', () => {
    const claim = fc.record({
      file: fc.nat(59),
      address: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', 'fe80::1'),
    })
    fc.assert(
      fc.property(
        fc.array(claim, { minLength: 1, maxLength: 150 }),
        fc.nat(70),
        fc.infiniteStream(fc.nat()),
        (claims, room, noise) => {
          const holders = new Map<number, Set<string>>()
          for (const c of claims) holders.set(c.file, (holders.get(c.file) ?? new Set()).add(c.address))
          const files = [...holders].map(([n, held]) => file(id(n), `n${n % 7}.bin`, [...held]))
          const { listed, omitted } = fairListing(files, room)
          assert.equal(listed.length, Math.min(room, files.length))
          assert.equal(omitted, files.length - listed.length)
          assert.equal(new Set(listed).size, listed.length)
          const sources = new Map<string, KnownFile[]>()
          for (const f of files)
            for (const p of f.peers)
              sources.set(addressKey(p.address), [...(sources.get(addressKey(p.address)) ?? []), f])
          const share = Math.floor(room / sources.size)
          for (const [source, held] of sources) {
            const shown = held.filter((f) => listed.includes(f)).length
            assert.ok(shown >= Math.min(held.length, share), `${source}: ${shown} of ${held.length}, share ${share}`)
          }
          // What is listed stays put from one redraw to the next, however the dictionary's order moved.
          const shuffled = files
            .map((f) => ({ f, key: noise.next().value as number }))
            .sort((a, b) => a.key - b.key)
            .map(({ f }) => f)
          assert.deepEqual(
            fairListing(shuffled, room).listed.map((f) => f.id),
            listed.map((f) => f.id),
          )
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: by bytes, what is listed fits the room, and a source whose files are 10 times larger gets no more of it than the other', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(20_000),
        (big, small, room) => {
          const files = [
            ...Array.from({ length: big }, (_, n) => file(id(n), `big${n}`, ['10.0.0.66'])),
            ...Array.from({ length: small }, (_, n) => file(id(1000 + n), `small${n}`, ['10.0.0.1'])),
          ]
          const cost = (f: KnownFile): number => (f.name.startsWith('big') ? 1000 : 100)
          const { listed, omitted } = fairListing(files, room, { cost })
          const spent = (prefix: string): number =>
            listed.filter((f) => f.name.startsWith(prefix)).reduce((sum, f) => sum + cost(f), 0)
          assert.ok(spent('big') + spent('small') <= room)
          assert.equal(omitted, files.length - listed.length)
          const smallListed = listed.filter((f) => f.name.startsWith('small')).length
          // The small source has all its files, or it spent what the larger one did but one of its files (the
          // larger goes only while it has spent no more), and the line is full to within one small file.
          const [b, sm] = [spent('big'), spent('small')]
          const why = JSON.stringify({ big, small, room, smallListed, b, sm })
          if (smallListed < small) assert.ok(sm >= b - 1000 && sm + b > room - 100, why)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe("p2p-listen's listings under a crowd", () => {
  it('the --json line: the honest file is in it, within 1 MiB, and keys + omitted count every file', () => {
    const files = crowd(5000)
    const line = jsonLine(files, { now: 0, wallNow: 0 })
    assert.ok(Buffer.byteLength(line) <= 1024 * 1024)
    const parsed = JSON.parse(line) as { ok: boolean; files: Record<string, { name: string }>; omitted: number }
    assert.equal(parsed.ok, true)
    assert.ok(parsed.omitted > 0, 'the crowd does not fit')
    assert.equal(Object.keys(parsed.files).length + parsed.omitted, files.length)
    assert.equal(parsed.files[HONEST]?.name, 'zz-honest.bin')
  })

  it('property: the --json line leaves out no file that would have fit, and never measures a file it need not', () => {
    // Files of any text (a lone surrogate is 6 bytes in JSON, an emoji 4), claimed by up to 4 peers, via or not.
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })
    const aFile = fc.record({
      name: text,
      size: fc.nat(2 ** 40),
      claims: fc.array(
        fc.record({
          peer: text,
          address: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fe80::1%eth0'),
          port: fc.integer({ min: 1, max: 65535 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
    })
    fc.assert(
      fc.property(
        fc.array(aFile, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 100, max: 8000 }),
        fc.boolean(),
        (made, maxBytes, via) => {
          const files = made.map((m, n) => {
            const f = file(
              id(n),
              m.name,
              m.claims.map((c) => c.address),
            )
            f.size = m.size
            for (const [k, p] of f.peers.entries())
              Object.assign(p, { peer: m.claims[k]!.peer, port: m.claims[k]!.port, size: m.size })
            return f
          })
          const c = {
            now: 5,
            wallNow: 1e12,
            ...(via ? { via: (a: string) => (a.startsWith('fe80') ? 'ipv6' : 'broadcast') } : {}),
          }
          const whole = JSON.parse(jsonLine(files, c, 1e9)) as { files: Record<string, unknown> }
          const part = (f: KnownFile): string => `${JSON.stringify(f.id)}:${JSON.stringify(whole.files[f.id])}`
          for (const f of files) assert.ok(leastPartBytes(f, c) <= Buffer.byteLength(part(f)), part(f))
          const line = jsonLine(files, c, maxBytes)
          const parsed = JSON.parse(line) as { files: Record<string, unknown>; omitted: number }
          assert.ok(Buffer.byteLength(line) <= maxBytes)
          const listed = Object.keys(parsed.files).length
          assert.equal(listed + parsed.omitted, files.length)
          // The line kept room for the count's digits as if every file were left out.
          const spare =
            maxBytes - Buffer.byteLength(line) - (String(files.length).length - String(parsed.omitted).length)
          for (const f of files)
            if (!(f.id in parsed.files)) assert.ok(Buffer.byteLength(part(f)) + (listed > 0 ? 1 : 0) > spare, part(f))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('the plain line and the table list the honest file and say how many they left out', () => {
    const files = crowd(5000)
    const line = summary(files, 2, {})
    assert.match(line, /^5001 files, 2 peers: /)
    assert.match(line, /zz-honest\.bin \(1 peer\)/)
    assert.match(line, / and 4951 more$/)
    const table = listenTable(files, '/tmp/d.json', 0, () => 'broadcast')
    const rows = table.split('\n').filter((l) => /^(a\d{5}|zz-honest)\.bin/.test(l))
    assert.equal(rows.length, MAX_LISTED)
    assert.ok(rows.some((r) => r.startsWith('zz-honest.bin')))
    const names = rows.map((r) => r.split(' ')[0]!)
    assert.deepEqual(
      names,
      [...names].sort((a, b) => a.localeCompare(b)),
      'sorted by name',
    )
    assert.match(table, /… and 4951 more \(see the dictionary file\)/)
    assert.equal(files.at(-1)?.id, HONEST, 'the caller’s array is left as it was')
  })
})
