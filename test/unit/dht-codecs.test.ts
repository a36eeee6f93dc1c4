import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { topicOf } from '../../src/core/dht/topic.js'
import { formatShareLink, parseShareLink, type ShareLink, withoutSecrets } from '../../src/core/discovery/share-link.js'
import { hasCode } from '../../src/core/errors.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b))

describe('DHT topics', () => {
  it('are 32 bytes, deterministic, and differ per id, per mode and per swarm key', () => {
    fc.assert(
      fc.property(hexId, hexId, key, key, (a, b, k1, k2) => {
        const open = topicOf(a)
        assert.equal(open.byteLength, 32)
        assert.deepEqual(topicOf(a), open)
        assert.notDeepEqual(open, topicOf(a, k1), 'a private topic differs from the open one')
        assert.ok(!open.includes(Buffer.from(a, 'hex').subarray(0, 8)), 'the raw id is not in the topic')
        if (a !== b) {
          assert.notDeepEqual(open, topicOf(b))
          assert.notDeepEqual(topicOf(a, k1), topicOf(b, k1))
        }
        if (!k1.equals(k2)) assert.notDeepEqual(topicOf(a, k1), topicOf(a, k2))
      }),
    )
  })

  it('refuses what is not a file id', () => {
    for (const bad of ['', 'abc', 'A'.repeat(64), `${'0'.repeat(63)}g`])
      assert.throws(
        () => topicOf(bad),
        (e) => hasCode(e, 'E_USAGE'),
      )
  })
})

const secretArb = fc.oneof(
  fc.constant(generateSecret()),
  // passphrases: long, varied, any characters a person might type (spaces, &, =, %, #, unicode)
  fc
    .string({ unit: 'grapheme', minLength: 24, maxLength: 60 })
    .filter((s) => s.trim().length >= 24 && new Set([...s.normalize('NFC').trim()]).size >= 8)
    .filter((s) => !/[\u0000-\u001f\u007f]/.test(s) && s === s.trim().normalize('NFC')),
)
const peerArb = fc.oneof(
  fc.record({
    host: fc.ipV4().filter((h) => !/^(0|127|22[4-9]|2[3-5]\d)\./.test(h)),
    port: fc.integer({ min: 1, max: 65535 }),
  }),
  fc.record({
    host: fc.constantFrom('fd00::20', '2001:db8::1', 'laptop.lan', 'seed-1.example'),
    port: fc.integer({ min: 1, max: 65535 }),
  }),
)
const seederArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((key) => formatPeerId(Buffer.from(key)))
const linkArb: fc.Arbitrary<ShareLink> = fc
  .record({
    id: hexId,
    peer: fc.option(peerArb, { nil: undefined }),
    seeder: fc.option(seederArb, { nil: undefined }),
    secret: fc.option(secretArb, { nil: undefined }),
  })
  .map(({ id, peer, seeder, secret }) => ({
    id,
    ...(peer ? { peer: { host: peer.host, port: peer.port } } : {}),
    ...(seeder !== undefined ? { seeder } : {}),
    ...(secret !== undefined ? { secret } : {}),
  }))

describe('share links', () => {
  it('parse(format(x)) = x', () => {
    fc.assert(
      fc.property(linkArb, (link) => {
        assert.deepEqual(parseShareLink(formatShareLink(link)), link)
      }),
      { numRuns: 300 },
    )
  })

  it('accept the forms a person pastes', () => {
    const id = 'ab'.repeat(32)
    assert.deepEqual(parseShareLink(`  P2P://${id.toUpperCase()}  `), { id })
    // A slash a chat client or a browser adds after what it takes for a host (a UX audit: refused as a bad id).
    assert.deepEqual(parseShareLink(`p2p://${id}/`), { id })
    assert.deepEqual(parseShareLink(`p2p://${id}/?peer=10.0.0.5:47011`), {
      id,
      peer: { host: '10.0.0.5', port: 47011 },
    })
    assert.deepEqual(parseShareLink(`p2p://${id}?peer=%5Bfd00%3A%3A20%5D%3A47011`), {
      id,
      peer: { host: 'fd00::20', port: 47011 },
    })
    assert.deepEqual(parseShareLink(`p2p://${id}?peer=10.0.0.5:47011`), { id, peer: { host: '10.0.0.5', port: 47011 } })
    const seeder = formatPeerId(Buffer.alloc(32, 7))
    assert.deepEqual(parseShareLink(`p2p://${id}?seeder=${seeder.toLowerCase().replaceAll('-', '')}`), { id, seeder })
    assert.throws(
      () => parseShareLink(`p2p://${id}?seeder=correct-horse-battery`),
      (e: unknown) => hasCode(e, 'E_USAGE') && /not a peer ID/.test(String(e)) && !String(e).includes('horse'),
    )
  })

  it('say where a mistyped id or seeder is wrong, never quoting a seeder (a UX audit: the message showed the same first characters as the right link)', () => {
    const id = 'ab'.repeat(32)
    const seeder = formatPeerId(Buffer.alloc(32, 7))
    const message = (text: string): string => {
      try {
        parseShareLink(text)
      } catch (err) {
        assert.ok(hasCode(err, 'E_USAGE'))
        return (err as Error).message
      }
      throw new Error(`${text} was taken`)
    }
    assert.match(
      message(`p2p://${id.slice(1)}`),
      /the id is not 64 hexadecimal digits: it has 63 hexadecimal digits, not 64 /,
    )
    assert.match(message(`p2p://${id}a`), /: it has 65 hexadecimal digits, not 64 /)
    assert.match(
      message(`p2p://${id.slice(0, 40)}g${id.slice(41)}`),
      /^invalid share link "p2p:\/\/a[ab]{39}…": the id is not 64 hexadecimal digits: its character 41 is not a hexadecimal digit/,
    )
    const typo = `${seeder.slice(0, 30)}${seeder[30] === 'A' ? 'B' : 'A'}${seeder.slice(31)}`
    const said = message(`p2p://${id}?seeder=${typo}`)
    assert.match(said, /the seeder is not a peer ID: it fails its check characters: a typo in groups 3–4\?/)
    assert.ok(!said.includes(typo.slice(8, 20)), said)
    assert.match(
      message(`p2p://${id}?seeder=${seeder.slice(0, -1)}1`),
      /the seeder is not a peer ID: it holds a character that is not A–Z or 2–7 \(group 8, character 7\)/,
    )
  })

  it('refuse hostile or damaged links with E_USAGE, never echoing a secret', () => {
    const id = 'ab'.repeat(32)
    const cases = [
      'http://example.org/x',
      `p2p://${id.slice(1)}`,
      `p2p://${id}/x`,
      `p2p://${id}#frag`,
      `p2p://${id}?peer=10.0.0.5:1&peer=10.0.0.6:1`,
      `p2p://${id}?peer=10.0.0.5`,
      `p2p://${id}?peer=[fd00::20]`,
      `p2p://${id}?peer=10.0.0.5:99999`,
      `p2p://${id}?peer=255.255.255.255:1`,
      `p2p://${id}?peer=../../etc:1`,
      `p2p://${id}?peer=a%0Ab:1`,
      `p2p://${id}?peer=`,
      `p2p://${id}?cmd=rm`,
      `p2p://${id}?secret=%E0%A4%A`,
      `p2p://${id}?secret=short`,
      `p2p://${id}?secret=psk1-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAB`,
      `p2p://${id}?${'a'.repeat(3000)}`,
      `p2p://${id}\u0000`,
      `p2p://${id} ?peer=1.2.3.4:5`,
    ]
    for (const text of cases)
      assert.throws(
        () => parseShareLink(text),
        (e: unknown) => hasCode(e, 'E_USAGE') && !(e as Error).message.includes('AAAAAAB'),
        text,
      )
  })

  it('never quote a secret, whatever is wrong with the link around it (an attacker pass found short ids echoing it whole)', () => {
    const key = 'psk1-QQQQQQQ-QQQQQQQ-QQQQQQQ-QQQQQQQ-QQQQQQQ-QQQQQQQ-QQQQQQQ-QQQQQQQ'
    const phrase = 'correct horse battery staple secret'
    fc.assert(
      fc.property(
        fc.constantFrom('', 'ab', 'a'.repeat(63), 'z'.repeat(64)),
        fc.constantFrom(
          key,
          encodeURIComponent(phrase),
          phrase,
          `${phrase}#horse`,
          `x y&secret=${phrase}`,
          'correct&horse&battery',
          'correct&horse=battery',
          'battery-staple-x&PEER=horse-tail',
          'battery-staple-x&peer=horse-tail',
          'battery-staple-x&peer=[horse',
        ),
        fc.constantFrom('', '&secret=x', '&peer=', '#f', '&cmd=1'),
        // The secret under its own name, or a mistyped one (an attacker pass: the whole link was quoted).
        fc.constantFrom('secret=', 'password=', 'pass=', 'key=', 'psk=', 'secr%65t=', 'secret:', ''),
        fc.constantFrom('?', '&', '?x&'),
        (id, secret, tail, name, mark) => {
          const text = `p2p://${id}${mark}${name}${secret}${tail}`
          try {
            parseShareLink(text)
          } catch (e) {
            assert.ok(hasCode(e, 'E_USAGE'))
            const message = (e as Error).message
            assert.ok(!message.includes('QQQQQQQ') && !message.includes('horse'), message)
          }
        },
      ),
    )
  })

  it('withoutSecrets takes out secret= values and psk1- keys, and nothing else', () => {
    const key = 'psk1-AAAAAAA-BBBBBBB'
    assert.equal(withoutSecrets(`p2p://ab?peer=1.2.3.4:5&secret=${key}&x=1`), 'p2p://ab?peer=1.2.3.4:5&secret=<secret>')
    assert.equal(
      withoutSecrets('p2p://ab?secret=correct&horse=battery&peer=1.2.3.4:5'),
      'p2p://ab?secret=<secret>&peer=1.2.3.4:5',
      "a raw passphrase holding '&': to the next peer= (the only other parameter), not the next '&'",
    )
    assert.equal(
      withoutSecrets('p2p://ab?secret=battery&PEER=staple&peer=1.2.3.4:5'),
      'p2p://ab?secret=<secret>&peer=1.2.3.4:5',
      "'&PEER=' is no parameter to the parser: part of the passphrase",
    )
    assert.equal(withoutSecrets('a secret=x, then secret=y&peer=h:1'), 'a secret=<secret>&peer=h:1')
    assert.equal(
      withoutSecrets('the swarm secret is not 56 characters after psk1-: paste the whole line'),
      'the swarm secret is not 56 characters after psk1-: paste the whole line',
      'the bare prefix a message names is no secret',
    )
    assert.equal(
      withoutSecrets('secret=abc def\n(run with --help)'),
      'secret=<secret>\n(run with --help)',
      'to the line end',
    )
    assert.equal(withoutSecrets(`p2p://ab?SECRET=a%20b#c`), 'p2p://ab?SECRET=<secret>')
    assert.equal(
      withoutSecrets('p2p://ab?secret=correct horse battery#x&peer=1.2.3.4:5'),
      'p2p://ab?secret=<secret>&peer=1.2.3.4:5',
    )
    assert.equal(withoutSecrets(`--peer=${key}`), '--peer=<secret>')
    const quoted = 'invalid share link "p2p://ab?secret=<secret>": it holds spaces (expected …)'
    assert.equal(withoutSecrets(quoted), quoted, 'a message already redacted keeps the rest of its words')
    assert.equal(withoutSecrets('file.bin'), 'file.bin')
  })

  it('never throws anything but E_USAGE on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 100 }), (a, b) => {
        for (const text of [a, `p2p://${a}`, `p2p://${'c'.repeat(64)}?${b}`]) {
          try {
            parseShareLink(text)
          } catch (e) {
            assert.ok(hasCode(e, 'E_USAGE'), String(e))
          }
        }
      }),
    )
  })
})
