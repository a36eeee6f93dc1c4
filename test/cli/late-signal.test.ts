import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { BIN, ROOT } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'

/**
 * A Ctrl-C just after a command has printed its result does not kill the
 * process by the signal, which would tell a script the opposite of what it
 * printed (a download that placed its file, then "exit 130"): the command
 * exits with its own code as soon as it has ended (cli/main.ts). Before,
 * the process lived on 0.1-0.25 s for a download's leftover timers
 * (integration/download-waits), then ~10 ms of Node's own teardown, when
 * its handlers were gone and the signal's default action was back.
 */
describe('a signal just after the result', () => {
  it('exits with the command’s code, never by the signal (SIGINT and SIGTERM, 0-11 ms after the result)', async (t) => {
    const dir = await tmpDir(t)
    const args = ['id', '--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs')]
    const outcomes: string[] = []
    for (let i = 0; i < 24; i++) {
      const signal = i % 2 === 0 ? 'SIGINT' : 'SIGTERM'
      const delay = i % 12
      const child = spawn(process.execPath, [BIN('p2p'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout.once('data', () => setTimeout(() => child.kill(signal), delay))
      const [code, by] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.on('exit', (c, s) => resolve([c, s])),
      )
      outcomes.push(`${signal} +${delay} ms: ${by ? `killed by ${by}` : `exit ${code}`}`)
    }
    const wrong = outcomes.filter((o) => !o.endsWith('exit 0'))
    assert.deepEqual(wrong, [], outcomes.join('\n'))
  })

  it('a program running two commands: the second is still stopped by its own handler, gracefully', async (t) => {
    const logs = await tmpDir(t)
    const common = pathToFileURL(join(ROOT, 'dist/src/cli/common.js')).href
    const script = `
      import { defineCommand } from ${JSON.stringify(common)}
      const define = (run) => defineCommand({ name: 'two', summary: 'test', settings: {}, examples: [], run })
      const argv = ['--logs-dir', ${JSON.stringify(logs)}]
      await define(async () => 0)().parseAsync(argv, { from: 'user' })
      await define(async ({ out, signal }) => {
        out('waiting')
        const alive = setInterval(() => undefined, 1000) // what a daemon's socket does: the process waits
        await new Promise((resolve) => signal.addEventListener('abort', resolve))
        clearInterval(alive)
        out('stopped gracefully')
        return 5
      })().parseAsync(argv, { from: 'user' })
    `
    const { stdout, exitCode } = await interruptWhenWaiting(script, 1)
    assert.equal(stdout, 'waiting\nstopped gracefully\n')
    assert.equal(exitCode, 5)
  })

  it('a second Ctrl-C leaves at once, with --json still one result object on stdout', async (t) => {
    const logs = await tmpDir(t)
    const common = pathToFileURL(join(ROOT, 'dist/src/cli/common.js')).href
    const script = `
      import { defineCommand } from ${JSON.stringify(common)}
      const deaf = defineCommand({ name: 'deaf', summary: 'test', settings: {}, examples: [], run: async ({ err, signal }) => {
        signal.addEventListener('abort', () => err('aborted'))
        err('waiting')
        await new Promise((resolve) => setTimeout(resolve, 60_000)) // a clean-up that never ends
        return 0
      } })
      await deaf().parseAsync(['--json', '--logs-dir', ${JSON.stringify(logs)}], { from: 'user' })
    `
    const { stdout, exitCode } = await interruptWhenWaiting(script, 2, 'stderr')
    assert.equal(exitCode, 130)
    const result = JSON.parse(stdout) as { ok: boolean; code: string }
    assert.deepEqual([result.ok, result.code], [false, 'E_INTERRUPTED'])
  })
})

describe('a signal while the command loads (its first ~200 ms)', () => {
  it("is remembered from the bin script's first line: the command stops as it starts, E_INTERRUPTED on --json, exit 130, nothing made", async (t) => {
    const dir = await tmpDir(t)
    const early = pathToFileURL(join(ROOT, 'dist/cli/early-signals.js')).href
    const main = pathToFileURL(join(ROOT, 'dist/cli/main.js')).href
    // As a bin script, but it says "waiting" once armed and loads the command only after the signal came.
    const script = `
      import { rememberEarlySignals } from ${JSON.stringify(early)}
      rememberEarlySignals()
      process.stderr.write('waiting\\n')
      const alive = setInterval(() => undefined, 1000) // a signal listener alone keeps no process alive
      await new Promise((resolve) => process.once('SIGINT', resolve))
      clearInterval(alive)
      process.argv.splice(1, Infinity, 'p2p-download', '--json', 'x.bin', '--chunks-dir', ${JSON.stringify(join(dir, 'chunks'))}, '--logs-dir', ${JSON.stringify(join(dir, 'logs'))}, '--broadcast', '127.255.255.255', '--ipv6', 'off', '--wait', '1')
      const { runCli } = await import(${JSON.stringify(main)})
      await runCli('download')
    `
    const { stdout, exitCode, watched } = await interruptWhenWaiting(script, 1, 'stderr')
    assert.equal(exitCode, 130)
    // A stop the user asked for is said as one, not as an error.
    assert.match(watched, /^Stopped: interrupted by SIGINT as it started \[E_INTERRUPTED\]$/m)
    assert.deepEqual(JSON.parse(stdout), {
      ok: false,
      code: 'E_INTERRUPTED',
      message: 'interrupted by SIGINT as it started',
    })
    assert.deepEqual(await readdir(dir), [], 'nothing made: no chunk store, no log')
  })

  it('every bin script remembers signals before it imports anything else of ours', async () => {
    for (const name of ['p2p', 'p2p-split', 'p2p-announce', 'p2p-serve', 'p2p-listen', 'p2p-download']) {
      const lines = (await readFile(BIN(name), 'utf8'))
        .split('\n')
        .filter((l) => /^(import|await|const|if|rememberEarlySignals)/.test(l))
      assert.match(lines[0]!, /^import \{ rememberEarlySignals \} from '\.\.\/dist\/cli\/early-signals\.js'$/, name)
      assert.equal(lines[1], 'rememberEarlySignals()', name)
    }
  })
})

/**
 * Runs `script`, sends `count` SIGINTs once it has written "waiting" on `stream`, each after the first once it has
 * written "aborted" (taken): its stdout, exit code and `stream`. A text that never comes fails the wait in 30 s.
 */
async function interruptWhenWaiting(
  script: string,
  count: number,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<{ stdout: string; exitCode: number | null; watched: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let watched = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  let heard: (() => void) | undefined
  child[stream].setEncoding('utf8').on('data', (d: string) => {
    watched += d
    heard?.()
  })
  const until = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" within 30 s: ${watched}`)), 30_000)
      heard = () => {
        if (!watched.includes(text)) return
        clearTimeout(timer)
        resolve()
      }
      heard()
    })
  await until('waiting')
  for (let i = 0; i < count; i++) {
    // The next only once the last was taken: two signals sent before the process ran in between are one (a
    // loaded run's second Ctrl-C, 5 ms after the first, was lost, and the command ran its 60 s).
    if (i > 0) await until('aborted')
    child.kill('SIGINT')
  }
  const [exitCode] = (await once(child, 'exit')) as [number | null]
  return { stdout, exitCode, watched }
}
