import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ERROR_CODES, EXIT_CODES, fromFsError, P2PError } from '../../src/core/errors.js'
import { ROOT } from '../helpers/cli.js'

test('docs/errors.md lists every code with its exit status, and nothing else', () => {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8')
  const rows = new Map([...doc.matchAll(/^\| `(E_[A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1]!, Number(m[2])]))
  assert.deepEqual([...rows.keys()].sort(), [...ERROR_CODES].sort())
  for (const code of ERROR_CODES) assert.equal(rows.get(code), EXIT_CODES[code], code)
})

test('filesystem errors map to stable codes', () => {
  const fsError = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code })
  assert.equal(fromFsError(fsError('ENOSPC'), 'writing').code, 'E_NO_SPACE')
  assert.equal(fromFsError(fsError('EACCES'), 'reading').code, 'E_IO')
  assert.equal(fromFsError(fsError('ENOENT'), 'reading').code, 'E_NOT_FOUND')
  const passthrough = new P2PError('E_CHECKSUM', 'bad')
  assert.equal(fromFsError(passthrough, 'x'), passthrough)
})
