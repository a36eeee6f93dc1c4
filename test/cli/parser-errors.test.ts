import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
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

  it('without --json: one line as every other error says it, where to find usage or a suggestion, its code last', async (t) => {
    const dir = await tmpDir(t)
    const r = await runBin('p2p-split', ['--logs-dir', dir, '--bogus', 'x.bin'], { cwd: dir })
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /^(\x1b\[[0-9;]*m)?Error:(\x1b\[[0-9;]*m)? unknown option '--bogus' \(run with --help for usage and examples\) \[E_USAGE\]\n$/,
    )
    // A newline the user typed in an option is shown as typed, escaped: the error stays one line.
    const newline = await runBin('p2p-split', ['--logs-dir', dir, '--fo\nbar', 'x.bin'], { cwd: dir })
    assert.match(
      newline.stderr,
      /^(\x1b\[[0-9;]*m)?Error:(\x1b\[[0-9;]*m)? unknown option '--fo\\nbar' \(run with --help/,
    )
    assert.equal(newline.stderr.split('\n').length, 2, newline.stderr)
    const typo = await runBin('p2p', ['shar', 'x.bin'], { cwd: dir })
    assert.equal(typo.code, 2)
    assert.match(
      typo.stderr,
      /^(\x1b\[[0-9;]*m)?Error:(\x1b\[[0-9;]*m)? unknown command 'shar' \(did you mean share\?\) \[E_USAGE\]\n$/,
    )
  })

  it("help for a command that does not exist: the unknown command's one-line error, exit 2 (the whole help before)", async () => {
    const r = await runBin('p2p', ['help', 'nosuch'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(
      r.stderr,
      /^(\x1b\[[0-9;]*m)?Error:(\x1b\[[0-9;]*m)? unknown command 'nosuch' \(run with --help for usage and examples\) \[E_USAGE\]\n$/,
    )
    const known = await runBin('p2p', ['help', 'split'])
    assert.equal(known.code, 0, known.stderr)
    assert.match(known.stdout, /Usage: p2p split/)
  })

  it('--version (-V): the package version on every command, exit 0', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    for (const [name, args] of [
      ['p2p-split', ['--version']],
      ['p2p-download', ['-V']],
      ['p2p', ['--version']],
      ['p2p', ['share', '--version']],
    ] as const) {
      const r = await runBin(name, [...args])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.trim(), version, `${name} ${args.join(' ')}`)
    }
  })
})
