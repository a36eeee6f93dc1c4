import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'

/**
 * The option parser's own errors (commander: an unknown option, a missing
 * argument or value), found by an attacker pass: with --json they printed no
 * JSON and no stable code, and a file name read as an option (`p2p split *`
 * over a file named `-<ESC>]0;…`) put its escape sequences on the terminal.
 */

describe("the option parser's errors", () => {
  it('with --json: one E_USAGE object on stdout, exit 2, whatever the parser found', async (t) => {
    const dir = await tmpDir(t)
    for (const args of [['--bogus', 'x.bin'], [], ['--chunk-size']]) {
      const r = await runBin('p2p-split', ['--json', '--logs-dir', dir, ...args], { cwd: dir })
      assert.equal(r.code, 2, r.stderr)
      const result = JSON.parse(r.stdout) as { ok: boolean; code: string; message: string }
      assert.deepEqual([result.ok, result.code], [false, 'E_USAGE'])
      assert.ok(result.message.length > 0 && !result.message.startsWith('error:'), result.message)
    }
  })

  it('a name read as an option reaches the terminal escaped', async (t) => {
    const dir = await tmpDir(t)
    const hostile = '-\u001b]0;PWNED\u0007\u001b[2Jx'
    const r = await runBin('p2p-split', ['--logs-dir', dir, hostile], { cwd: dir })
    assert.equal(r.code, 2)
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(r.stderr), JSON.stringify(r.stderr))
    assert.match(r.stderr, /unknown option '-\\x1b\]0;PWNED\\x07\\x1b\[2Jx'/)
  })
})
