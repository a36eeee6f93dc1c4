import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'

/**
 * A Ctrl-C after a command has ended (its result printed, the process still
 * closing its last handles) exits with the command's code: it does not kill
 * the process by the signal, which would tell a script the opposite of the
 * result it printed (a download that placed its file, exit 130).
 */
describe('a signal after the command has ended', () => {
  for (const [signal, code] of [
    ['SIGINT', 0],
    ['SIGTERM', 3],
  ] as const) {
    it(`${signal}: exits ${code}, the command's code, not by the signal`, async (t) => {
      const logs = await tmpDir(t)
      const common = pathToFileURL(join(ROOT, 'dist/src/cli/common.js')).href
      // A command that prints its result and returns while a handle (a socket closing, say) still holds the
      // process for 3 s: the signal lands between the two.
      const script = `
        import { defineCommand } from ${JSON.stringify(common)}
        const command = defineCommand({
          name: 'late', summary: 'test', settings: {}, examples: [],
          run: async ({ out }) => { out('result'); setTimeout(() => undefined, 3000); return ${code} },
        })
        await command().parseAsync(['--logs-dir', ${JSON.stringify(logs)}], { from: 'user' })
      `
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string]
      assert.equal(line, 'result\n')
      await new Promise((resolve) => setTimeout(resolve, 100)) // the command has returned by now
      const started = performance.now()
      child.kill(signal)
      const [exitCode, bySignal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null]
      assert.deepEqual({ exitCode, bySignal }, { exitCode: code, bySignal: null }, stderr)
      assert.ok(performance.now() - started < 2500, 'at once, not after the handle')
    })
  }

  it('a second command in the same process is still stopped by its own handler, gracefully', async (t) => {
    const logs = await tmpDir(t)
    const common = pathToFileURL(join(ROOT, 'dist/src/cli/common.js')).href
    const script = `
      import { defineCommand } from ${JSON.stringify(common)}
      const define = (run) => defineCommand({ name: 'late', summary: 'test', settings: {}, examples: [], run })
      const argv = ['--logs-dir', ${JSON.stringify(logs)}]
      await define(async () => 0)().parseAsync(argv, { from: 'user' })
      await define(async ({ out, signal }) => {
        out('waiting')
        await new Promise((resolve) => signal.addEventListener('abort', resolve))
        out('stopped gracefully')
        return 5
      })().parseAsync(argv, { from: 'user' })
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    const waiting = new Promise<void>((resolve) =>
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d
        if (stdout.includes('waiting')) resolve()
      }),
    )
    await waiting
    child.kill('SIGINT')
    const [exitCode] = (await once(child, 'exit')) as [number | null]
    assert.equal(stdout, 'waiting\nstopped gracefully\n')
    assert.equal(exitCode, 5)
  })
})
