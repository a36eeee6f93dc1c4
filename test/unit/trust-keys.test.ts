// Keys in words and files: peer IDs as text (every typo caught), the identity file, swarm secrets and the keys
// derived from them, the allow-list.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { encodeIdentityFile, parseIdentityFile } from '../../src/core/trust/identity.js'
import { base32, formatKey, fromBase32, parseKeyText } from '../../src/core/trust/key-text.js'
import { formatPeerId, normalizePeerId, parsePeerId, peerIdProblem } from '../../src/core/trust/peer-id.js'
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
      assert.deepEqual(parseKeyText(text.slice(0, at) + lookalike + text.slice(at + 1)), {
        problem: 'character',
        at: text.slice(0, at).replace(/-/g, '').length,
      })
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

  it('says where a typo is (a UX audit: "a typo?" alone left the user comparing 56 characters)', () => {
    const id = formatPeerId(randomBytes(32))
    const compact = id.replace(/-/g, '')
    const swapped = (at: number): string => {
      const c = ALPHABET[(ALPHABET.indexOf(compact[at]!) + 1) % 32]!
      return compact.slice(0, at) + c + compact.slice(at + 1)
    }
    const message = (text: string): string => {
      try {
        parsePeerId(text, '--allow')
      } catch (err) {
        assert.ok(hasCode(err, 'E_USAGE'))
        return (err as Error).message
      }
      throw new Error(`${text} was taken`)
    }
    // Each two groups of seven end in one check character: the pair it fails in is named.
    for (const [at, groups] of [
      [0, '1–2'],
      [20, '3–4'],
      [30, '5–6'],
      [55, '7–8'],
    ] as const)
      assert.match(
        message(swapped(at)),
        new RegExp(`fails its check characters: a typo in groups ${groups}\\?$`),
        `at ${at}`,
      )
    assert.match(message(`${compact.slice(0, 17)}1${compact.slice(18)}`), /not A–Z or 2–7 \(group 3, character 4\)$/)
    assert.match(message(id.slice(0, -1)), / is 55 characters without dashes and spaces, not 56 /)
    assert.equal(peerIdProblem(id), undefined)
    // A no-break space pasted after the ID (a chat's): past the eighth group, there is no "group 9" to look in.
    assert.equal(
      peerIdProblem(`${id}\u00a0`),
      'holds a character that is not A–Z or 2–7 (after its 56: character 57 without dashes and spaces)',
    )
    assert.equal(
      peerIdProblem(compact.slice(0, 50)),
      'is 50 characters without dashes and spaces, not 56 (eight groups of seven)',
    )
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
