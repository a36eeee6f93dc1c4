import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement-encode.js'
import { numbered, partName } from '../../src/core/download/final-name.js'
import { hasCode } from '../../src/core/errors.js'
import { encodeManifest, manifestId, parseManifest } from '../../src/core/manifest.js'
import { isValidName, mixesLookAlikeScripts, portableName, validateName } from '../../src/core/names.js'

/** Dangerous on some common system or screen: refused everywhere (split, announcements, manifests). */
const DANGEROUS = [
  '.P2P',
  '.P2p-notes',
  '.p2P',
  'a\u202egnp.exe',
  'x\u202ay',
  'x\u2066y\u2069',
  'mark\u200e',
  'arabic\u061cmark',
  '\u200b',
  '\u200b\u200c\u2060',
  '\ufeff',
  ' ',
  '   ',
  '\u3000\u00a0',
  '\u3164',
  'line\u2028sep',
  'para\u2029sep',
]
/** Unportable (Windows): accepted, saved locally under a neutral name. */
const UNPORTABLE: Array<[string, string]> = [
  ['CON', 'CON_'],
  ['con', 'con_'],
  ['nul.txt', 'nul_.txt'],
  ['NUL.tar.gz', 'NUL_.tar.gz'],
  ['Com1', 'Com1_'],
  ['lpt9.log', 'lpt9_.log'],
  ['COM\u00b9', 'COM\u00b9_'],
  ['CONIN$', 'CONIN$_'],
  ['aux .txt', 'aux _.txt'],
  ['prn.', 'prn_'],
  ['a:b', 'a_b'],
  ['what?.txt', 'what_.txt'],
  ['<x>|"y"*', '_x___y__'],
  ['name. ', 'name._'],
  ['name.', 'name_'],
  ['name ', 'name_'],
  ['...', '.._'],
]

describe('names', () => {
  const rejected = [
    '',
    '.',
    '..',
    '../x',
    'a/../../x',
    '/etc/passwd',
    '//host/share',
    'C:\\x',
    '..\\..\\x',
    'a/b\\c',
    'nul\u0000byte',
    'tab\there',
    'new\nline',
    'del\u007f',
    'c1\u0085',
    'esc\u001b[2K',
    'lone\ud800surrogate',
    'bytes\ufffdthat were not UTF-8',
    'x'.repeat(256),
    'é'.repeat(128),
    '.p2p',
    '.p2p-x',
    ...DANGEROUS,
  ]
  for (const name of rejected) {
    it(`rejects ${JSON.stringify(name).slice(0, 40)}`, () => {
      assert.throws(
        () => validateName(name),
        (err) => hasCode(err, 'E_BAD_NAME'),
      )
      assert.equal(isValidName(name), false)
    })
  }

  const accepted = [
    'movie.mkv',
    'sample file é.bin',
    '%2e%2e',
    '...',
    '.bashrc',
    'emoji 🎉.txt',
    'x'.repeat(255),
    'é'.repeat(127),
    'C:x',
    '👨\u200d👩\u200d👧.png',
    'می\u200cخواهم.txt',
    'zero\u200bwidth inside',
    '.p2',
    'p2p',
    ' .p2p',
    ...UNPORTABLE.map(([n]) => n),
  ]
  for (const name of accepted) {
    it(`accepts ${JSON.stringify(name).slice(0, 40)}`, () => assert.equal(validateName(name), name))
  }

  it('an error message never carries the raw name (it may hold escape sequences)', () => {
    assert.throws(
      () => validateName('a\u202e\u001b]0;x\u0007'),
      (err) => hasCode(err, 'E_BAD_NAME') && !/[\u0000-\u001f\u202e]/.test((err as Error).message),
    )
  })

  it('normalises NFD to NFC', () => {
    const nfd = 'e\u0301.txt'
    assert.equal(validateName(nfd), '\u00e9.txt')
    assert.equal(isValidName(nfd), false, 'only NFC is valid as-is on the wire')
  })

  it('never throws anything but E_BAD_NAME, and what it accepts is one safe component', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.anything()), (input) => {
        try {
          const name = validateName(input)
          assert.ok(!name.includes('/') && !name.includes('\\') && !name.includes('\0'))
          assert.ok(name !== '.' && name !== '..' && Buffer.byteLength(name) <= 255 && name.length > 0)
          assert.ok(!/[\u202a-\u202e\u2066-\u2069]/.test(name) && !name.toLowerCase().startsWith('.p2p'))
        } catch (err) {
          assert.ok(hasCode(err, 'E_BAD_NAME'), String(err))
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('portableName: Windows device names, NTFS streams, trailing dots and spaces get a neutral local name', () => {
    for (const [name, local] of UNPORTABLE) assert.equal(portableName(name), local, name)
    for (const name of ['movie.mkv', 'CONSOLE.txt', 'com10', 'COM0', 'a.con', 'x'.repeat(255), 'é.txt'])
      assert.equal(portableName(name), name)
    assert.equal(Buffer.byteLength(portableName(`nul.${'x'.repeat(251)}`)), 255, 'never longer than a name may be')
  })

  it('portableName property: a valid name stays valid, becomes portable, and a second pass changes nothing', () => {
    const part = fc.constantFrom(
      'CON',
      'nul',
      'com1',
      'LPT3',
      'aux',
      ':',
      '?',
      '*',
      '"',
      '<',
      '>',
      '|',
      '.',
      ' ',
      'a',
      'é',
      '🎉',
      '.txt',
      'conin$',
    )
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 12 }).map((p) => p.join('')),
        fc.nat(250),
        (joined, pad) => {
          const name = pad > 200 ? `${joined}${'x'.repeat(Math.max(0, 255 - Buffer.byteLength(joined)))}` : joined
          if (!isValidName(name)) return
          const local = portableName(name)
          assert.ok(isValidName(local), JSON.stringify(local))
          assert.equal(portableName(local), local)
          assert.ok(!/[<>:"|?*]/.test(local) && !/[. ]$/.test(local))
          assert.ok(!/^(con|prn|aux|nul|com[1-9]|lpt[1-9]|conin\$|conout\$) *(\.|$)/i.test(local), local)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('.part and numbered names stay within 255 bytes', () => {
    const long = `${'é'.repeat(100)}${'x'.repeat(48)}.tar.gz`
    assert.equal(Buffer.byteLength(long), 255)
    for (const name of [
      partName(long),
      numbered(long, 1),
      numbered(long, 9999),
      numbered(`a.${'x'.repeat(253)}`, 12),
    ]) {
      assert.ok(Buffer.byteLength(name) <= 255 && name.isWellFormed(), name)
    }
    assert.ok(partName(long).endsWith('.part') && numbered(long, 2).endsWith(' (2).gz'))
  })
})

describe('mixesLookAlikeScripts: a word of two look-alike scripts', () => {
  it('marks letters of two scripts in a word (joiners dropped first), not a name in one script, two scripts in separate words, or Latin beside CJK', () => {
    for (const name of [
      'r\u0435\u0440\u043ert.pdf',
      'p\u0430ypal.exe',
      '\u03bfpen.txt',
      'Ｒ\u0435port.pdf',
      'r\u200d\u0435\u0440\u043e\u200drt.pdf', // zero-width joiners between
      'rep\u{1d5c8}rt.pdf', // a mathematical sans-serif o (Script=Common)
      '\ua4e3eport.pdf', // Lisu
      'rep\u2c9frt.pdf', // Coptic
      '\u0430\u03bf.txt', // Cyrillic and Greek
      'repo\u200drt.pdf', // an invisible joiner in a Latin word: it prints as report.pdf
    ])
      assert.equal(mixesLookAlikeScripts(name), true, name)
    for (const name of [
      'report.pdf',
      '\u043e\u0442\u0447\u0451\u0442.pdf',
      '\u043e\u0442\u0447\u0451\u0442 report.pdf',
      '報告 report.pdf',
      'iPhone用の説明書.pdf',
      '\u{1f468}\u200d\u{1f469}\u200d\u{1f467} family.jpg', // an emoji's joiners
      '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt', // a Persian word's non-joiner
      'café-2.txt',
      'x1.bin',
    ])
      assert.equal(mixesLookAlikeScripts(name), false, name)
  })
})

describe('names on the wire (a change to isValidName is a change to what peers accept)', () => {
  const ID = 'ab'.repeat(32)
  const datagram = (name: string): Buffer =>
    Buffer.from(
      JSON.stringify({
        v: 1,
        type: 'announce',
        peer: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
        port: 47010,
        files: [{ id: ID, name, size: 1, chunks: 1, have: 'all' }],
      }),
    )
  const manifest = (name: string): Buffer =>
    Buffer.from(
      JSON.stringify({
        version: 1,
        name,
        size: 0,
        chunkSize: 65536,
        chunks: [],
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      }),
    )

  it('an announcement naming a dangerous name is dropped; an unportable one is kept as it is', () => {
    for (const name of DANGEROUS)
      assert.throws(
        () => decodeDatagram(datagram(name)),
        (err) => hasCode(err, 'E_BAD_DATAGRAM'),
        name,
      )
    for (const [name] of UNPORTABLE) {
      const m = decodeDatagram(datagram(name))
      assert.equal(m.type === 'announce' && m.files[0]!.name, name)
    }
    const [ok] = encodeAnnouncements('a1b2c3d4e5f60718293a4b5c6d7e8f90', 1, [
      { id: ID, name: 'a:b', size: 1, have: Bitfield.full(1) },
    ])
    assert.equal(decodeDatagram(ok!).type, 'announce')
  })

  it("a received manifest with a dangerous name is refused (E_BAD_MANIFEST); an unportable name is the file's name", () => {
    for (const name of DANGEROUS) {
      const bytes = manifest(name)
      assert.throws(
        () => parseManifest(bytes, { expectedId: manifestId(bytes) }),
        (err) => hasCode(err, 'E_BAD_MANIFEST'),
        name,
      )
    }
    for (const [name] of UNPORTABLE) {
      const bytes = manifest(name)
      assert.ok(encodeManifest(parseManifest(bytes, { expectedId: manifestId(bytes) })).equals(bytes))
    }
  })
})
