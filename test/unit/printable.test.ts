import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { printable } from '../../src/core/printable.js'
import { errorFromResponse } from '../../src/core/transfer/messages.js'

/** What must never reach a terminal from outside (FAULTS.md case 41). */
// eslint-disable-next-line no-control-regex
const DANGEROUS =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2069\ufeff\u{e0000}-\u{e007f}]|\p{Cs}/u

/** Text drawn from the code points that matter: controls, escapes, bidi, invisible, surrogates, and plain letters. */
const hostile = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '\x1b[2K',
        '\x1b]52;c;ZXZpbA==\x07',
        '\x1bP1$r\x1b\\',
        '\x9b31m',
        '\r',
        '\n',
        '\t',
        '\x08',
        '\x7f',
        '\u0085',
        '\u202e',
        '\u2066',
        '\u2069',
        '\u200e',
        '\u061c',
        '\u200b',
        '\u200d',
        '\ufeff',
        '\u00ad',
        '\u{e0041}',
        '\ud800',
        '\udfff',
        '\u2028',
        'é',
        '🎉',
        '👨\u200d👩',
        'ok',
        ' ',
        '\\',
      ),
      fc.string({ unit: 'binary' }),
    ),
    { maxLength: 20 },
  )
  .map((parts) => parts.join(''))

describe('printable', () => {
  it('leaves plain printable text (any script, emoji, joiners, backslashes) unchanged', () => {
    for (const text of [
      'movie.mkv',
      'sample file é.bin',
      '日本語のファイル.txt',
      'مرحبا',
      'می\u200cخواهم',
      '👨\u200d👩\u200d👧 family.png',
      '❤\ufe0f',
      'C:\\x',
      '%2e%2e',
      '',
    ])
      assert.equal(printable(text), text)
  })

  it('shows controls, escape sequences, bidi controls, invisible characters and lone surrogates as visible escapes', () => {
    assert.equal(printable('\x1b[2K\rDone\x07'), '\\x1b[2K\\rDone\\x07')
    assert.equal(printable('\x1b]52;c;ZXZpbA==\x07'), '\\x1b]52;c;ZXZpbA==\\x07')
    assert.equal(printable('a\u202egnp.exe'), 'a\\u202egnp.exe')
    assert.equal(printable('\u009b2J \u0085'), '\\u009b2J \\u0085')
    assert.equal(printable('x\u200by\ufeff'), 'x\\u200by\\ufeff')
    assert.equal(printable('x\ud800y'), 'x\\ud800y')
    assert.equal(printable('tag\u{e0041}'), 'tag\\u{e0041}')
    assert.equal(printable('tab\tnew\nline\u2028'), 'tab\\tnew\\nline\\u2028')
  })

  it('cuts at maxLength code points with an ellipsis, never inside an escape or a surrogate pair', () => {
    assert.equal(printable('x'.repeat(20), 10), `${'x'.repeat(9)}…`)
    assert.equal(printable('abcdefgh\x1b', 10), 'abcdefgh…')
    assert.equal(printable('🎉'.repeat(5), 3), '🎉🎉…')
    assert.equal(printable('anything', 0), '')
  })

  it('property: no dangerous code point survives, the length bound holds, and printable text is a fixed point', () => {
    fc.assert(
      fc.property(hostile, fc.integer({ min: 1, max: 200 }), (text, max) => {
        const out = printable(text, max)
        assert.ok(!DANGEROUS.test(out), JSON.stringify(out))
        assert.ok([...out].length <= max)
        assert.ok(out.isWellFormed())
        if ([...out].length < max) assert.equal(printable(out, max), out)
        if (!DANGEROUS.test(text) && !/\p{Cf}|\p{Default_Ignorable_Code_Point}/u.test(text) && [...text].length <= max)
          assert.equal(out, text)
      }),
      { numRuns: 3000 },
    )
  })

  it('property: what reaches a terminal as UTF-8 has no byte below 0x20 and no C1 control', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const bytes = Buffer.from(printable(text), 'utf8')
        assert.ok(!bytes.some((b) => b < 0x20 || b === 0x7f), 'no C0 or DEL byte')
        assert.ok(!/[\u0080-\u009f]/.test(bytes.toString('utf8')), 'no C1 control')
      }),
      { numRuns: 2000 },
    )
  })

  it("a peer's error frame is made printable on receipt: the message and the code it claimed", () => {
    const err = errorFromResponse({
      code: 'E_\x1b[31mX',
      message: '\x1b[2K\rDownloaded: ok \x1b]52;c;ZXZpbA==\x07 \u202egnp.exe',
    })
    assert.equal(err.code, 'E_BAD_FRAME')
    assert.ok(!DANGEROUS.test(err.message) && !DANGEROUS.test(String(err.details?.peerCode)), err.message)
    assert.match(err.message, /^peer: \\x1b\[2K\\rDownloaded/)
  })
})
