import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { DatagramGuard } from '../../src/core/trust/datagram-guard.js'
import { encodeIdentityFile, parseIdentityFile } from '../../src/core/trust/identity.js'
import { base32, formatKey, fromBase32, parseKeyText } from '../../src/core/trust/key-text.js'
import { formatPeerId, normalizePeerId, parsePeerId } from '../../src/core/trust/peer-id.js'
import { SealBuffers } from '../../src/core/trust/seal-buffers.js'
import {
  looksSealed,
  MAX_SEALED_PAYLOAD,
  nonceOf,
  openDatagram,
  ReplayFilter,
  SEAL_OVERHEAD,
  sealDatagram,
} from '../../src/core/trust/sealed-datagram.js'
import {
  checkSwarmProof,
  deriveSwarmKeys,
  generateSecret,
  MIN_PASSPHRASE_CHARS,
  parseSecret,
  swarmProof,
} from '../../src/core/trust/swarm-secret.js'

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a))
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

describe('peer ID text form', () => {
  it('parse(format(k)) = k, in any case and with or without dashes and spaces', () => {
    fc.assert(
      fc.property(key32, fc.boolean(), fc.boolean(), (key, lower, spaces) => {
        let text = formatPeerId(key)
        assert.match(text, /^([A-Z2-7]{7}-){7}[A-Z2-7]{7}$/)
        if (lower) text = text.toLowerCase()
        if (spaces) text = text.replace(/-/g, ' ')
        assert.deepEqual(parsePeerId(text), key)
      }),
      { numRuns: 500 },
    )
  })

  it('accepts ASCII only: a Unicode space, or a letter that folds to one (ſ → S, ı → I), is not a key (E_USAGE shows it escaped)', () => {
    const text = formatPeerId(Buffer.alloc(32, 9)) // BEEQSCI-…: holds S and I
    assert.ok('key' in parseKeyText(text))
    for (const odd of ['\uFEFF', '\u00A0', '\u2028', '\u3000', '\n']) {
      assert.ok('problem' in parseKeyText(text.replace('-', odd)), `U+${odd.codePointAt(0)!.toString(16)} went through`)
    }
    for (const [ascii, lookalike] of [
      ['S', '\u017F'],
      ['I', '\u0131'],
    ] as const) {
      const at = text.indexOf(ascii)
      assert.deepEqual(parseKeyText(text.slice(0, at) + lookalike + text.slice(at + 1)), { problem: 'character' })
    }
    assert.ok('key' in parseKeyText(`\t${text.replace(/-/g, ' ').toLowerCase()} `))
    assert.throws(
      () => parsePeerId(text.replace('-', '\u00A0')),
      (err) => hasCode(err, 'E_USAGE') && /\\u00a0/.test(err.message) && /not A–Z or 2–7/.test(err.message),
    )
  })

  it('catches any single mistyped, dropped or added character', () => {
    fc.assert(
      fc.property(
        key32,
        fc.nat(55),
        fc.nat(31),
        fc.constantFrom('typo', 'drop', 'add'),
        (key, at, replacement, kind) => {
          const compact = formatPeerId(key).replace(/-/g, '')
          const c = ALPHABET[replacement]!
          if (kind === 'typo' && compact[at] === c) return
          const broken =
            kind === 'typo'
              ? compact.slice(0, at) + c + compact.slice(at + 1)
              : kind === 'drop'
                ? compact.slice(0, at) + compact.slice(at + 1)
                : compact.slice(0, at) + c + compact.slice(at)
          assert.ok('problem' in parseKeyText(broken), `${kind} at ${at} went unnoticed`)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('catches every single substitution of one peer ID, exhaustively', () => {
    const compact = formatPeerId(randomBytes(32)).replace(/-/g, '')
    for (let at = 0; at < compact.length; at++) {
      for (const c of ALPHABET) {
        if (c === compact[at]) continue
        assert.ok('problem' in parseKeyText(compact.slice(0, at) + c + compact.slice(at + 1)))
      }
    }
  })

  it('refuses what is not a peer ID with E_USAGE saying why', () => {
    for (const bad of ['', 'hello', 'O'.repeat(56), '0'.repeat(56), `${formatPeerId(randomBytes(32))}A`]) {
      assert.throws(
        () => parsePeerId(bad),
        (err) => hasCode(err, 'E_USAGE'),
      )
    }
    assert.equal(normalizePeerId(formatPeerId(Buffer.alloc(32)).toLowerCase()), formatPeerId(Buffer.alloc(32)))
  })

  it('base32 is RFC 4648 (its test vectors) and one text per key', () => {
    assert.equal(base32(Buffer.from('foobar')), 'MZXW6YTBOI')
    assert.equal(base32(Buffer.from('fooba')), 'MZXW6YTB')
    fc.assert(
      fc.property(key32, (key) => {
        assert.deepEqual(fromBase32(base32(key), 32), key)
      }),
    )
    // The last character carries 4 spare bits: a text with any of them set names no key.
    const text = base32(Buffer.alloc(32))
    assert.equal(fromBase32(`${text.slice(0, -1)}B`, 32), undefined)
    assert.throws(() => formatKey(Buffer.alloc(31)), RangeError)
  })
})

describe('identity file', () => {
  it('round-trips; refuses truncation, damage and extra lines with E_IDENTITY', () => {
    const seed = randomBytes(32)
    const text = encodeIdentityFile(seed)
    assert.deepEqual(parseIdentityFile(text), seed)
    for (let cut = 0; cut < text.length - 1; cut++) {
      // Cutting inside the last line (or its newline) may leave it whole: only a shorter file than that must fail.
      if (cut >= text.trimEnd().length) continue
      assert.throws(
        () => parseIdentityFile(text.slice(0, cut)),
        (err) => hasCode(err, 'E_IDENTITY'),
        `cut at ${cut}`,
      )
    }
    const flipped = text.replace(/seed (.)/, (_m, c: string) => `seed ${c === 'a' ? 'b' : 'a'}`)
    assert.throws(
      () => parseIdentityFile(flipped),
      (err) => hasCode(err, 'E_IDENTITY'),
    )
    assert.throws(
      () => parseIdentityFile(`${text}extra\n`),
      (err) => hasCode(err, 'E_IDENTITY'),
    )
  })

  it('never throws anything but E_IDENTITY, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          parseIdentityFile(text)
        } catch (err) {
          assert.ok(hasCode(err, 'E_IDENTITY'))
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('swarm secret', () => {
  it('a generated secret parses back to its key; a typo in it is caught', () => {
    const secret = generateSecret()
    assert.match(secret, /^psk1-([A-Z2-7]{7}-){7}[A-Z2-7]{7}$/)
    const parsed = parseSecret(secret)
    assert.equal(parsed.kind, 'key')
    const typo = secret.slice(0, 10) + (secret[10] === 'A' ? 'B' : 'A') + secret.slice(11)
    assert.throws(
      () => parseSecret(typo),
      (err) => hasCode(err, 'E_USAGE'),
    )
  })

  it('refuses short or repetitive passphrases; accepts a long one', () => {
    for (const weak of [
      '',
      'password',
      'x'.repeat(40),
      'abababababababababababab',
      'a'.repeat(MIN_PASSPHRASE_CHARS - 1),
    ]) {
      assert.throws(
        () => parseSecret(weak),
        (err) => hasCode(err, 'E_USAGE'),
        weak,
      )
    }
    assert.equal(parseSecret('correct horse battery staple').kind, 'passphrase')
  })

  it('derives distinct keys per use; the proof binds the handshake hash and the role', () => {
    const keys = deriveSwarmKeys(randomBytes(32))
    const all = [keys.datagramKey, keys.proofKey, keys.topicKey].map((k) => k.toString('hex'))
    assert.equal(new Set(all).size, 3)
    assert.match(keys.tag, /^[0-9a-f]{8}$/)
    const hash = randomBytes(64)
    const proof = swarmProof(keys.proofKey, hash, true)
    assert.ok(checkSwarmProof(keys.proofKey, hash, true, proof))
    assert.ok(!checkSwarmProof(keys.proofKey, hash, false, proof), 'a proof is for one role')
    assert.ok(!checkSwarmProof(keys.proofKey, randomBytes(64), true, proof), 'a proof is for one handshake')
    assert.ok(!checkSwarmProof(deriveSwarmKeys(randomBytes(32)).proofKey, hash, true, proof))
    assert.ok(!checkSwarmProof(keys.proofKey, hash, true, proof.subarray(0, 31)))
  })
})

describe('sealed datagrams', () => {
  const key = randomBytes(32)
  const now = 1_800_000_000_000
  const payload = fc.uint8Array({ maxLength: MAX_SEALED_PAYLOAD }).map((a) => Buffer.from(a))

  it('open(seal(p)) = p within the window; the datagram stays within 1,200 bytes', () => {
    fc.assert(
      fc.property(payload, fc.integer({ min: -15_000, max: 15_000 }), (p, skew) => {
        const sealed = sealDatagram(key, p, now + skew)
        assert.ok(sealed.byteLength <= 1200 && sealed.byteLength === p.byteLength + SEAL_OVERHEAD)
        assert.ok(looksSealed(sealed))
        const opened = openDatagram(key, sealed, now, 15_000)
        assert.ok('payload' in opened)
        assert.deepEqual(opened.payload, p)
      }),
      { numRuns: 300 },
    )
  })

  it('any flipped bit, another key, or a stamp outside the window is dropped with its reason', () => {
    fc.assert(
      fc.property(payload, fc.nat(), fc.nat(7), (p, at, bit) => {
        const sealed = sealDatagram(key, p, now)
        sealed[at % sealed.byteLength]! ^= 1 << bit
        const opened = openDatagram(key, sealed, now, 15_000)
        assert.ok('failure' in opened && (opened.failure === 'auth' || opened.failure === 'magic'))
      }),
      { numRuns: 500 },
    )
    const sealed = sealDatagram(key, Buffer.from('{}'), now)
    assert.deepEqual(openDatagram(randomBytes(32), sealed, now, 15_000), { failure: 'auth' })
    assert.deepEqual(openDatagram(key, sealed, now + 15_001, 15_000), { failure: 'stale' })
    assert.deepEqual(openDatagram(key, sealed, now - 15_001, 15_000), { failure: 'future' })
    assert.deepEqual(openDatagram(key, Buffer.from('{"v":1,"type":"query"}'), now, 15_000), { failure: 'size' })
  })

  it('an answer sealed to a query opens only as the answer to that query: not elsewhere, not to another query', () => {
    const clock = () => now
    const member = new DatagramGuard(key, 15_000, clock)
    const query = member.seal(Buffer.from('{"v":1,"type":"query"}'))
    const opened = new DatagramGuard(key, 15_000, clock).open(query)
    assert.ok('nonce' in opened)
    const answer = member.seal(Buffer.from('{"answer":1}'), opened.nonce)
    const otherQuery = member.seal(Buffer.from('{"v":1,"type":"query"}'))
    const fresh = () => new DatagramGuard(key, 15_000, clock)
    assert.deepEqual(fresh().open(answer, [opened.nonce]), {
      payload: Buffer.from('{"answer":1}'),
      nonce: nonceOf(answer),
    })
    assert.deepEqual(fresh().open(answer, [nonceOf(otherQuery)]), { drop: 'auth' }, 'another query')
    assert.deepEqual(fresh().open(answer), { drop: 'auth' }, 'on the shared port')
    // A member's own announcement (sealed to no query) replayed to a query port by a stranger.
    const announcement = member.seal(Buffer.from('{"announce":1}'))
    assert.deepEqual(fresh().open(announcement, [opened.nonce]), { drop: 'unbound' })
    assert.deepEqual(fresh().open(announcement, []), { drop: 'unbound' })
    assert.deepEqual(new DatagramGuard(randomBytes(32), 15_000, clock).open(answer, [opened.nonce]), { drop: 'auth' })
  })

  it('never throws, whatever the bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1300 }), (bytes) => {
        const opened = openDatagram(key, bytes, now, 15_000)
        assert.ok('failure' in opened)
      }),
      { numRuns: 2000 },
    )
    assert.throws(() => sealDatagram(key, Buffer.alloc(MAX_SEALED_PAYLOAD + 1), now), RangeError)
  })

  it('a replay within the window is caught once, bounded in entries', () => {
    const filter = new ReplayFilter(15_000, 100)
    assert.ok(filter.admit('a', now, now))
    assert.ok(!filter.admit('a', now, now + 1000))
    assert.ok(
      filter.admit('a', now, now + 31_000),
      'forgotten after twice the window (its stamp is stale by then anyway)',
    )
    for (let i = 0; i < 1000; i++) filter.admit(`n${i}`, now, now + 31_000)
    assert.ok(filter.size <= 100)
  })
})

describe('seal buffers', () => {
  it('hands a buffer out once at a time and bounds what waits idle', () => {
    const pool = new SealBuffers(64 * 1024)
    const a = pool.take(40_000)
    assert.equal(a.byteLength, 40_000)
    pool.give(a)
    pool.give(a) // twice: kept once
    const b = pool.take(50_000)
    const c = pool.take(50_000)
    assert.equal(b.buffer, a.buffer)
    assert.notEqual(c.buffer, a.buffer)
    pool.give(b)
    pool.give(c)
    assert.ok(pool.idleByteCount <= 64 * 1024)
    assert.equal(pool.take(100).byteLength, 100)
  })
})

describe('allow-list', () => {
  it('reads IDs with comments and blank lines; refuses a bad line naming it', async () => {
    const { AllowList, parseAllowText, loadAllowList } = await import('../../src/core/trust/allow-list.js')
    const a = randomBytes(32)
    const b = randomBytes(32)
    const keys = parseAllowText(`# the office\n${formatPeerId(a)}  # alice\n\n  ${formatPeerId(b).toLowerCase()}\n`)
    const list = new AllowList(keys)
    assert.ok(list.allows(a) && list.allows(b) && !list.allows(randomBytes(32)))
    assert.deepEqual(list.peerIds(), [formatPeerId(a), formatPeerId(b)])
    assert.throws(
      () => parseAllowText(`${formatPeerId(a)}\nnot-an-id\n`, 'f'),
      (err) => hasCode(err, 'E_USAGE') && /f line 2/.test((err as Error).message),
    )
    assert.equal(await loadAllowList([], undefined), undefined)
    assert.equal((await loadAllowList([`${formatPeerId(a)},${formatPeerId(b)}`], undefined))!.size, 2)
    await assert.rejects(loadAllowList([','], undefined), (err) => hasCode(err, 'E_USAGE'))
    // A file named that is not there, or is a directory: said in words, no errno text, no advice to remove it.
    await assert.rejects(
      loadAllowList([], '/nonexistent-p2p-allow.txt'),
      (err) =>
        hasCode(err, 'E_USAGE') &&
        /allow-list file \/nonexistent-p2p-allow\.txt: file not found$/.test((err as Error).message),
    )
    await assert.rejects(
      loadAllowList([], tmpdir()),
      (err) => hasCode(err, 'E_USAGE') && /: it is a directory, not a regular file$/.test((err as Error).message),
    )
  })
})

describe('datagram guard', () => {
  it('seals, opens once, drops plain, replayed, stale and foreign datagrams with their reason', async () => {
    let now = 1_800_000_000_000
    const key = randomBytes(32)
    const guard = new DatagramGuard(key, 15_000, () => now)
    const sealed = guard.seal(Buffer.from('{"v":1,"type":"query"}'))
    assert.deepEqual(guard.open(sealed), {
      payload: Buffer.from('{"v":1,"type":"query"}'),
      nonce: nonceOf(sealed),
    })
    assert.deepEqual(guard.open(sealed), { drop: 'replay' })
    assert.deepEqual(guard.open(Buffer.from('{"v":1,"type":"query"}')), { drop: 'plain' })
    assert.deepEqual(new DatagramGuard(randomBytes(32), 15_000, () => now).open(guard.seal(Buffer.from('x'))), {
      drop: 'auth',
    })
    const old = guard.seal(Buffer.from('x'))
    now += 16_000
    assert.deepEqual(guard.open(old), { drop: 'stale' })
    assert.equal(guard.maxPayload, 1200 - SEAL_OVERHEAD)
  })

  it("a process started after a datagram was sent does not take it ('early': its replay record could not have it), but takes an answer to its own query; a step of its clock moves 'before' along", () => {
    const started = 1_800_000_000_000
    let wall = started
    let mono = 0
    let memberWall = started - 1_000
    const key = randomBytes(32)
    const member = new DatagramGuard(key, 15_000, () => memberWall)
    const late = new DatagramGuard(
      key,
      15_000,
      () => wall,
      () => mono,
    )
    const before = member.seal(Buffer.from('{"announce":1}'))
    assert.deepEqual(late.open(before), { drop: 'early' }, 'sent 1 s before it began, inside --stale-after')
    const query = late.seal(Buffer.from('{"v":1,"type":"query"}'))
    const heard = member.open(query)
    assert.ok('nonce' in heard)
    // The member's clock is 1 s behind ours: its answer to our query is taken at once, its bursts once we ran 1 s.
    const answer = member.seal(Buffer.from('{"answer":1}'), heard.nonce)
    assert.ok('payload' in late.open(answer, [nonceOf(query)]))
    wall += 1_500
    mono += 1_500
    memberWall += 1_500
    assert.ok('payload' in late.open(member.seal(Buffer.from('{"announce":2}'))), 'sent once it began')
    // Our clock is stepped back an hour (NTP after boot): what members send now was not sent before we began.
    wall -= 3_600_000
    memberWall = wall
    mono += 10
    assert.ok('payload' in late.open(member.seal(Buffer.from('{"announce":3}'))), 'not deaf after a clock step')
  })
})
