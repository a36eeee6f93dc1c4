import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { link, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, startDaemon } from '../helpers/swarm.js'

/**
 * The command's log file (core/log.ts), found by an attacker pass: a link
 * in its place had every line appended, and its target made 0600, wherever
 * it pointed; a FIFO held the command before its first line; a log that
 * could not be written (a full disk) held it for ever at exit. All three
 * deaf to Ctrl-C. Now: a regular file or E_IO, and a log that fails stops
 * logging, said once, while the command goes on.
 */

async function splitArgs(dir: string): Promise<string[]> {
  await writeFile(join(dir, 'small.bin'), 'a small file')
  return [join(dir, 'small.bin'), '--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs'), '--json']
}

describe('files a command keeps beside its work', () => {
  it('a link at its path: E_IO, exit 6, its target neither written nor chmodded', async (t) => {
    const dir = await tmpDir(t)
    const target = join(dir, 'elsewhere.txt')
    await writeFile(target, 'not a log\n', { mode: 0o644 })
    await mkdir(join(dir, 'logs'))
    await symlink(target, join(dir, 'logs', 'split.log'))
    const r = await runBin('p2p-split', await splitArgs(dir))
    assert.equal(r.code, 6, r.stdout + r.stderr)
    assert.equal(JSON.parse(r.stdout).code, 'E_IO')
    assert.equal(await readFile(target, 'utf8'), 'not a log\n')
    assert.equal((await stat(target)).mode & 0o777, 0o644)
    // A hard link to it is refused the same way.
    await rm(join(dir, 'logs', 'split.log'))
    await link(target, join(dir, 'logs', 'split.log'))
    const hard = await runBin('p2p-split', await splitArgs(dir))
    assert.equal(hard.code, 6, hard.stdout + hard.stderr)
    assert.match(JSON.parse(hard.stdout).message, /other names \(hard links\)/)
    assert.equal(await readFile(target, 'utf8'), 'not a log\n')
    assert.equal((await stat(target)).mode & 0o777, 0o644)
    await rm(join(dir, 'logs', 'split.log'))
    await symlink(target, join(dir, 'logs', 'split.log'))
    // The way to silence the log: --log-level silent opens none (a link to /dev/null is refused as any link).
    const silent = await runBin('p2p-split', [...(await splitArgs(dir)), '--log-level', 'silent'])
    assert.equal(silent.code, 0, silent.stdout + silent.stderr)
    assert.equal(await readFile(target, 'utf8'), 'not a log\n')
  })

  it('a FIFO at its path: E_IO at once, not a hang', async (t) => {
    const dir = await tmpDir(t)
    await mkdir(join(dir, 'logs'))
    execFileSync('mkfifo', [join(dir, 'logs', 'split.log')])
    const r = await runBin('p2p-split', await splitArgs(dir), { timeoutMs: 15_000 })
    assert.equal(r.signal, null, 'it ended by itself')
    assert.equal(r.code, 6, r.stdout + r.stderr)
    const result = JSON.parse(r.stdout) as { code: string; message: string }
    assert.equal(result.code, 'E_IO')
    assert.match(result.message, /the log file/) // ENXIO: no reader; a FIFO with one is not a regular file
  })

  it("a directory that cannot be made (under /proc, where Node's own mkdir -p spins for ever): one error at once, not a hang", async (t) => {
    const dir = await tmpDir(t)
    for (const where of [
      ['--logs-dir', '/proc/p2p-test-x'],
      ['--chunks-dir', '/proc/self/p2p-test-x'],
    ]) {
      const args = (await splitArgs(dir)).map((a, i, all) => (all[i - 1] === where[0] ? where[1]! : a))
      const r = await runBin('p2p-split', args, { timeoutMs: 15_000 })
      assert.equal(r.signal, null, 'it ended by itself')
      assert.equal(r.code, 3, r.stdout + r.stderr)
      assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'E_NOT_FOUND')
    }
  })

  it('a log that cannot be written (past the file size limit: EFBIG, as a full disk gives ENOSPC) stops logging, said once; the command succeeds', async (t) => {
    const dir = await tmpDir(t)
    // 512 bytes a file: the small file's chunk, manifest and keys fit; the log's second line does not.
    const r = await runBin('p2p-split', await splitArgs(dir), {
      wrap: ['sh', '-c', 'ulimit -f 1; exec "$0" "$@"'],
      timeoutMs: 15_000,
    })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.equal(JSON.parse(r.stdout).ok, true)
    const warnings = r.stderr.split('\n').filter((line) => line.includes('logging stopped'))
    assert.equal(warnings.length, 1, r.stderr)
    assert.match(warnings[0]!, /split\.log cannot be written \(EFBIG\)/)
  })

  it("p2p-listen's dictionary file that cannot be written (a directory at its path) is said once on stderr, and listening goes on", async (t) => {
    const dir = await tmpDir(t)
    await mkdir(join(dir, 'dict.json'))
    const listen = startDaemon(t, 'p2p-listen', [
      '--json',
      '--udp-port',
      String(await freeUdpPort()),
      '--broadcast',
      BROADCAST,
      '--dictionary',
      join(dir, 'dict.json'),
      '--logs-dir',
      join(dir, 'logs'),
    ])
    await listen.firstLine
    const deadline = Date.now() + 10_000
    while (!listen.stderr().includes('cannot be written')) {
      assert.ok(Date.now() < deadline, `no warning: ${listen.stderr()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.match(listen.stderr(), /the dictionary file .*dict\.json cannot be written \(EISDIR\); listening goes on/)
    assert.equal(listen.child.exitCode, null, 'still listening')
    assert.equal(await listen.stop(), 0)
  })
})
