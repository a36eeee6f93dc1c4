import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { ERROR_CODES, EXIT_CODES, fromFsError, P2PError } from '../../src/core/errors.js'
import { ROOT } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'

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

test('a file that may not be read is not blamed on a directory, and a path already named is not named again (a usability pass)', () => {
  const denied = Object.assign(new Error('EACCES'), { code: 'EACCES', path: 'a.bin' })
  const message = fromFsError(denied, 'opening a.bin').message
  assert.doesNotMatch(message, /writable/)
  assert.equal(message.split('a.bin').length, 2, message)
  assert.match(fromFsError(denied, 'reading').message, /reading \(a\.bin\)/)
  const file = Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR', path: '/x/f' })
  assert.match(
    fromFsError(file, 'creating the chunk store /x/f').message,
    /^not a directory while creating the chunk store \/x\/f: /,
  )
})

test("a rename's directory in the way is named by its destination (--force over a directory named the part file: an attacker pass)", async (t) => {
  const dir = await tmpDir(t)
  await writeFile(join(dir, 'f.bin.part'), 'x')
  await mkdir(join(dir, 'f.bin'))
  await writeFile(join(dir, 'f.bin', 'inside'), 'y')
  const err = await rename(join(dir, 'f.bin.part'), join(dir, 'f.bin')).catch((e: unknown) => e)
  const failure = fromFsError(err, 'finishing')
  assert.equal(failure.code, 'E_IO')
  assert.match(failure.message, /in the way while finishing \(.*\/f\.bin\): move it/)
})
