import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { BIN, runBin } from '../helpers/cli.js'
import { DHT_ARGS, dhtSeeder, testnetNodes } from '../helpers/dht.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, split, storeArgs } from '../helpers/swarm.js'

/**
 * A DHT whose bootstrap node does not answer (the private deployment's node
 * died, or froze): every join and announce then waits out the engine's
 * timeouts, seconds each. A command must still heed Ctrl-C and `--wait`.
 * Found by an attacker pass (forty-eighth session): `p2p-serve --dht` with
 * ten files exited 68 s after a Ctrl-C, a download's `--wait 2` ended after
 * 8.5 s and its Ctrl-C waited 14 s for the join.
 */

/** A bootstrap node that hears and never answers: a UDP socket of the test's own on 127.0.0.1. */
async function silentBootstrap(t: Cleanup): Promise<string> {
  const socket = createSocket('udp4')
  socket.on('message', () => undefined)
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  onCleanup(t, () => new Promise<void>((resolve) => socket.close(() => resolve())))
  return `127.0.0.1:${socket.address().port}`
}

/** Spawns a command; resolves once its log file says `line` (its signal handlers are in place by then). */
async function startedUntil(t: Cleanup, name: string, args: string[], logFile: string, line: string) {
  const child = spawn(process.execPath, [BIN(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  onCleanup(t, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  for (let i = 0; i < 200 && !(await readFile(logFile, 'utf8').catch(() => '')).includes(line); i++) await sleep(50)
  return { child, exited, stdout: () => stdout }
}

/** p2p-serve --dht of the store in `dir`/seed on a silent DHT, Ctrl-C 0.3 s after its log says `line`: how it ended. */
async function serveInterrupted(t: Cleanup, dir: string, extra: string[], line: string) {
  const args = ['--host', '127.0.0.1', '--port', '0', ...extra, ...storeArgs(join(dir, 'seed'))]
  const serve = await startedUntil(
    t,
    'p2p-serve',
    [...args, ...DHT_ARGS(await silentBootstrap(t))],
    join(dir, 'seed', 'logs', 'serve.log'),
    line,
  )
  await sleep(300)
  const asked = performance.now()
  serve.child.kill('SIGINT')
  const [code] = await serve.exited
  return { code, ms: performance.now() - asked, stdout: serve.stdout() }
}

describe('a DHT that does not answer', () => {
  it('p2p-serve --dht stops at once on Ctrl-C while it joins and announces', async (t) => {
    const dir = await tmpDir(t)
    for (let i = 0; i < 3; i++) {
      const file = join(dir, `f${i}.bin`)
      await randomFile(file, 10_000 + i)
      await split(join(dir, 'seed'), file)
    }
    const { code, ms } = await serveInterrupted(t, dir, [], '"listening"')
    assert.equal(code, 0)
    assert.ok(ms < 5_000, `exited ${Math.round(ms)} ms after Ctrl-C (each announce to a silent DHT takes seconds)`)
  })

  it('p2p-serve --dht whose DHT went away after it joined stops within one 2 s bound of Ctrl-C (two, one after the other, before)', async (t) => {
    const { bootstrap, nodes } = await testnetNodes(t)
    const dir = await tmpDir(t)
    await randomFile(join(dir, 'f.bin'), 10_000)
    await split(join(dir, 'seed'), join(dir, 'f.bin'))
    const { serve } = await dhtSeeder(t, join(dir, 'seed'), bootstrap)
    for (const node of nodes) await node.destroy({ force: true })
    await sleep(300)
    const exited = once(serve.child, 'exit')
    const asked = performance.now()
    serve.child.kill('SIGINT')
    const [code] = await exited
    const ms = performance.now() - asked
    t.diagnostic(`exited ${Math.round(ms)} ms after Ctrl-C`)
    assert.equal(code, 0)
    assert.ok(ms < 4_500, `exited ${Math.round(ms)} ms after Ctrl-C (~6,000 before)`)
  })

  it('p2p-serve --dht stops at once on Ctrl-C while it announces its key (the server listening)', async (t) => {
    const dir = await tmpDir(t)
    await randomFile(join(dir, 'f.bin'), 10_000)
    await split(join(dir, 'seed'), join(dir, 'f.bin'))
    const { code, ms, stdout } = await serveInterrupted(t, dir, ['--json'], 'joined the DHT')
    assert.equal(code, 0)
    assert.ok(
      ms < 2_500,
      `exited ${Math.round(ms)} ms after Ctrl-C (closing the server waited for its listen: 4.4-5.4 s)`,
    )
    // Its start line says what started: no DHT seeder, and no link naming a key never announced.
    const started = JSON.parse(stdout.split('\n')[0]!) as { dht: boolean; links: Array<{ link: string }> }
    assert.equal(started.dht, false)
    assert.ok(
      started.links.every((l) => !l.link.includes('seeder=')),
      JSON.stringify(started.links),
    )
  })

  it('p2p-download --dht: --wait counts from the start, the join included, and Ctrl-C ends the join', async (t) => {
    const dir = await tmpDir(t)
    const bootstrap = await silentBootstrap(t)
    const id = 'ab'.repeat(32)
    const nobody = await freeUdpPort()
    const common = [...downloadArgs(join(dir, 'w'), nobody, ['--id', id, '--wait', '2', ...DHT_ARGS(bootstrap)])]
    const started = performance.now()
    const waited = await startedUntil(t, 'p2p-download', common, join(dir, 'w', 'logs', 'download.log'), '"start"')
    const [code] = await waited.exited
    const ms = performance.now() - started
    assert.equal(code, 4, waited.stdout())
    assert.match(waited.stdout(), /DHT: .*through 127\.0\.0\.1/)
    assert.ok(ms < 6_000, `--wait 2 ended after ${Math.round(ms)} ms`)

    const args = downloadArgs(join(dir, 'c'), nobody, ['--id', id, '--wait', '60', ...DHT_ARGS(bootstrap)])
    const stopped = await startedUntil(t, 'p2p-download', args, join(dir, 'c', 'logs', 'download.log'), '"start"')
    await sleep(300)
    const asked = performance.now()
    stopped.child.kill('SIGINT')
    const [interrupted] = await stopped.exited
    const stopMs = performance.now() - asked
    assert.equal(interrupted, 130)
    assert.ok(stopMs < 3_000, `exited ${Math.round(stopMs)} ms after Ctrl-C`)
  })

  it('p2p-download --dht by name, nothing found: says the DHT finds a file by id or link, not name', async (t) => {
    const dir = await tmpDir(t)
    const r = await runBin(
      'p2p-download',
      downloadArgs(dir, await freeUdpPort(), ['film.mkv', '--wait', '1', ...DHT_ARGS(await silentBootstrap(t))]),
    )
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /the DHT finds a file by its id or share link, not by its name \[E_NOT_FOUND\]/)
  })

  it('a --dht-port in use is the command’s error at once (E_USAGE), not a wait', async (t) => {
    const dir = await tmpDir(t)
    const taken = await silentBootstrap(t) // a UDP port of the test's own, bound on 127.0.0.1
    const port = taken.split(':')[1]!
    const r = await runBin(
      'p2p-download',
      downloadArgs(dir, await freeUdpPort(), ['--id', 'ab'.repeat(32), ...DHT_ARGS(taken), '--dht-port', port]),
    )
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /cannot bind the DHT's UDP socket on 127\.0\.0\.1:\d+.*\[E_USAGE\]/)
  })
})
