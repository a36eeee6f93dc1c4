import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BIN } from '../helpers/cli.js'
import { sha256File } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, seeded, startSeeder } from '../helpers/swarm.js'

/** A command run on a terminal of its own (util-linux `script`): all it drew there, and its exit code. */
function onTerminal(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): Promise<{ code: number | null; drawn: string }> {
  const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`
  const line = [process.execPath, ...args].map(quote).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', line, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let drawn = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (drawn += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, drawn })
    })
  })
}

describe('the progress bar on a terminal', () => {
  it('draws every field from its first frame (no `{peers}` left to fill), and no time left before anything is done', async (t) => {
    const { dir, id, sha } = await seeded(t, 8_000_000)
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const args = downloadArgs(join(dir, 'd'), udp, ['--id', id]).filter((a) => a !== '--json')
    const { code, drawn } = await onTerminal([BIN('p2p-download'), ...args])
    assert.equal(code, 0, drawn)
    assert.match(drawn, /download \[/, 'a bar was drawn')
    assert.doesNotMatch(drawn, /\{[a-z_]+\}/i, 'no field left unfilled')
    // A frame ends where the next one's escape sequence begins.
    assert.doesNotMatch(drawn, /(?<!\d)0% \|[^\x1b\r\n]*ETA 0s/, 'no "ETA 0s" at 0 %')
    const [name] = await readdir(join(dir, 'd', 'downloads'))
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name!)), sha)
  })

  it('TERM=dumb and NO_COLOR: plain lines, no escape sequence at all, even for an error', async (t) => {
    const { dir, id, sha } = await seeded(t, 8_000_000)
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const { FORCE_COLOR: _forced, ...inherited } = process.env
    const env = { ...inherited, TERM: 'dumb', NO_COLOR: '1' }
    const args = downloadArgs(join(dir, 'd'), udp, ['--id', id]).filter((a) => a !== '--json')
    const done = await onTerminal([BIN('p2p-download'), ...args], env)
    assert.equal(done.code, 0, done.drawn)
    assert.doesNotMatch(done.drawn, /\x1b/, 'nothing drawn in place, nothing coloured')
    const [name] = await readdir(join(dir, 'd', 'downloads'))
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name!)), sha)
    const failed = await onTerminal([BIN('p2p-split'), join(dir, 'no such file')], { ...env, TERM: 'xterm' })
    assert.equal(failed.code, 3, failed.drawn)
    assert.match(failed.drawn, /^Error: /, 'NO_COLOR alone: no red')
  })
})
