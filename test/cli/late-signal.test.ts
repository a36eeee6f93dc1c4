import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
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
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    await new Promise<void>((resolve) =>
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d
        if (stdout.includes('waiting')) resolve()
      }),
    )
    child.kill('SIGINT')
    const [exitCode] = (await once(child, 'exit')) as [number | null]
    assert.equal(stdout, 'waiting\nstopped gracefully\n')
    assert.equal(exitCode, 5)
  })
})
