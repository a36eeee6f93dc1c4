import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { hasCode } from '../../src/core/errors.js'
import { isValidName, validateName } from '../../src/core/names.js'

describe('names', () => {
  const rejected = ['', '.', '..', '../x', 'a/../../x', '/etc/passwd', '//host/share', 'C:\\x', '..\\..\\x', 'a/b\\c', 'nul\u0000byte',
    'tab\there', 'new\nline', 'del\u007f', 'c1\u0085', 'lone\ud800surrogate', 'x'.repeat(256), 'é'.repeat(128), '.p2p', '.p2p-x']
  for (const name of rejected) {
    it(`rejects ${JSON.stringify(name).slice(0, 40)}`, () => {
      assert.throws(() => validateName(name), (err) => hasCode(err, 'E_BAD_NAME'))
      assert.equal(isValidName(name), false)
    })
  }

  const accepted = ['movie.mkv', 'sample file é.bin', '%2e%2e', '...', '.bashrc', 'emoji 🎉.txt', 'x'.repeat(255), 'é'.repeat(127), 'C:x']
  for (const name of accepted) {
    it(`accepts ${JSON.stringify(name).slice(0, 40)}`, () => assert.equal(validateName(name), name))
  }

  it('normalises NFD to NFC', () => {
    const nfd = 'e\u0301.txt'
    assert.equal(validateName(nfd), '\u00e9.txt')
    assert.equal(isValidName(nfd), false, 'only NFC is valid as-is on the wire')
  })

  it('never throws anything but E_BAD_NAME, and what it accepts is one safe component', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.anything()), (input) => {
      try {
        const name = validateName(input)
        assert.ok(!name.includes('/') && !name.includes('\\') && !name.includes('\0'))
        assert.ok(name !== '.' && name !== '..' && Buffer.byteLength(name) <= 255 && name.length > 0)
      } catch (err) {
        assert.ok(hasCode(err, 'E_BAD_NAME'), String(err))
      }
    }), { numRuns: 2000 })
  })
})
