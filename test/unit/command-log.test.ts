import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { redactSecrets, withoutOptionValues } from '../../src/cli/common.js'
import { createCommandLog } from '../../src/core/log.js'
import { tmpDir } from '../helpers/files.js'

describe('the command log', () => {
  it("is the owner's alone when it makes it (lines name peers, files and paths)", async (t) => {
    const logsDir = join(await tmpDir(t), 'logs')
    const log = createCommandLog(logsDir, 'download', 'info')
    log.info({ args: redactSecrets(['p2p://ab?secret=psk1-AAAA']) }, 'start')
    assert.equal((await stat(logsDir)).mode & 0o777, 0o700)
    assert.equal((await stat(join(logsDir, 'download.log'))).mode & 0o777, 0o600)
    assert.ok(!(await readFile(join(logsDir, 'download.log'), 'utf8')).includes('psk1-AAAA'))
  })

  it("redactSecrets: --secret, --secret=, a link's secret= and a psk1- key never reach it; other arguments are kept", () => {
    const key = 'psk1-AAAAAAA-BBBBBBB'
    assert.deepEqual(
      redactSecrets([
        'get',
        `p2p://${'a'.repeat(64)}?secret=${encodeURIComponent('correct horse battery staple x')}`,
        '--secret',
        'hunter2 hunter2 hunter2',
        `--secret=${key}`,
        '--peer',
        'x:1',
      ]),
      ['get', `p2p://${'a'.repeat(64)}?secret=<secret>`, '--secret', '<secret>', '--secret=<secret>', '--peer', 'x:1'],
    )
    assert.deepEqual(redactSecrets([key]), ['<secret>'])
    assert.deepEqual(redactSecrets([key.toUpperCase()]), ['<secret>'], 'a key in capitals too')
    assert.deepEqual(
      redactSecrets(['--secret-file', 'correct horse battery', '--secret-file=staple horse']),
      ['--secret-file', '<secret>', '--secret-file=<secret>'],
      'a passphrase given as the file by mistake',
    )
  })

  it("withoutOptionValues: commander's quoted --option=value loses its value (a mistyped --secret=), its name stays", () => {
    const text = "error: unknown option '--secrte=correct horse battery'\n(Did you mean --secret?)"
    assert.equal(withoutOptionValues(text), "error: unknown option '--secrte=…'\n(Did you mean --secret?)")
    assert.equal(withoutOptionValues("error: unknown option '--SECRET=abc def'"), "error: unknown option '--SECRET=…'")
    assert.equal(withoutOptionValues("error: unknown option '--verbose'"), "error: unknown option '--verbose'")
    assert.equal(
      withoutOptionValues("error: unknown option '--secrte=it's correct horse'\n(run with --help)"),
      "error: unknown option '--secrte=…'\n(run with --help)",
      'a passphrase holding an apostrophe',
    )
    assert.deepEqual(
      redactSecrets([`p2p://${'a'.repeat(64)}?password=correct horse`, `p2p://${'a'.repeat(64)}&secret:horse`]),
      [`p2p://${'a'.repeat(64)}…`, `p2p://${'a'.repeat(64)}…`],
      'a link is logged up to its parameters: a secret may follow under a mistyped name',
    )
  })
})
