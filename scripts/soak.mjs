#!/usr/bin/env node
// npm run soak [-- --minutes 10]
// Seeders and downloaders in a loop on loopback for a set time, with random
// kills (SIGKILL, SIGINT), seeder restarts and a peer whose store is damaged;
// half the downloads pipeline deeply (--window 64) and most of those are
// SIGKILLed mid-way, leaving seeders with prepared answers nobody reads.
// At the end it checks: every completed download is byte-identical, no final
// file ever held anything else, every seeder still serves every chunk it has
// at once (a fresh client fetches them all), the long-running seeders did not
// leak memory (RSS sampled) or file descriptors, each server's byte budget
// came back to 0 when it stopped (its stats on SIGTERM) with no resource
// released twice, and nothing is left running.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import {
  BIN,
  BROADCAST,
  daemon,
  freeUdpPort,
  median,
  ROOT,
  sampleFile,
  sha256,
  stopDaemons,
  timed,
} from '../bench/lib.mjs'
import { sha256Hex } from '../dist/src/core/manifest.js'
import { PeerClient } from '../dist/src/core/transfer/client.js'

const args = process.argv.slice(2)
const minutes = Number(args[args.indexOf('--minutes') + 1] ?? 0) || 10
const work = '/tmp/p2p-soak'
const node = process.execPath
const MiB = 1024 * 1024
const until = Date.now() + minutes * 60_000
const log = (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
const common = (dir) => ['--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs')]
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const rand = (n) => Math.floor(Math.random() * n)

rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
const udp = await freeUdpPort()
const disc = ['--udp-port', String(udp), '--broadcast', BROADCAST, '--interval', '1']

// Files and three seeders: two healthy, one with damaged chunks (it must never serve them).
const files = []
for (const [name, size] of [
  ['small.bin', 3 * MiB + 17],
  ['medium.bin', 24 * MiB],
  ['large.bin', 64 * MiB + 5],
]) {
  const path = join(work, name)
  await sampleFile(path, size)
  files.push({ name, path, sha: await sha256(path) })
}
const seeders = ['seed-a', 'seed-b', 'seed-damaged'].map((n) => ({
  name: n,
  dir: join(work, n),
  serve: undefined,
  announce: undefined,
}))
for (const s of seeders) for (const f of files) await timed(node, [BIN('p2p-split'), f.path, ...common(s.dir)])
for (const f of files) f.id = sha256Hex(readFileSync(join(work, 'seed-a', 'chunks', f.name, 'manifest.json')))
for (const f of files) {
  const dir = join(work, 'seed-damaged', 'chunks', f.name)
  for (const c of readdirSync(dir)
    .filter((x) => x.endsWith('.chunk'))
    .slice(0, 3))
    writeFileSync(join(dir, c), Buffer.alloc(1000))
}

async function startSeeder(s) {
  s.serve = daemon(node, [BIN('p2p-serve'), '--host', '127.0.0.1', '--port', '0', '--json', ...common(s.dir)])
  const lines = []
  s.serveLines = lines
  let text = ''
  s.serve.child.stdout.on('data', (piece) => {
    text += piece
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      lines.push(text.slice(0, nl))
      text = text.slice(nl + 1)
    }
  })
  const { port } = await s.serve.firstLine()
  s.port = port
  s.announce = daemon(node, [BIN('p2p-announce'), '--port', String(port), ...disc, ...common(s.dir)])
}

/** The stats a p2p-serve printed when it stopped (SIGTERM), or undefined. */
function stoppedStats(s) {
  for (const line of s.serveLines.slice().reverse()) {
    try {
      const value = JSON.parse(line)
      if (value.stopped) return value.stats
    } catch {
      /* not JSON */
    }
  }
  return undefined
}

/**
 * A fresh client asks a seeder for every file's manifest and every chunk: all
 * arrive, each right (the damaged seeder refuses exactly its damaged chunks),
 * within `ms`. A seeder wedged by killed clients fails this.
 */
async function stillServes(s, ms = 30_000) {
  const started = Date.now()
  // The encrypted transport, p2p-serve's default (a plain client is refused: E_AUTH).
  const client = await PeerClient.connect({
    host: '127.0.0.1',
    port: s.port,
    requestTimeoutMs: ms,
    secure: { keyPair: NoiseSecretStream.keyPair() },
  })
  const result = { seeder: s.name, chunks: 0, refused: 0, wrong: 0, ms: 0, ok: false }
  try {
    for (const f of files) {
      const manifestBytes = await client.fetchManifest(f.id)
      const manifest = JSON.parse(manifestBytes.toString('utf8'))
      const answers = await Promise.allSettled(manifest.chunks.map((_, i) => client.fetchChunk(f.id, i)))
      answers.forEach((a, i) => {
        if (a.status === 'rejected') result.refused++
        else if (sha256Hex(a.value) !== manifest.chunks[i]) result.wrong++
        else result.chunks++
      })
    }
  } catch (err) {
    result.error = err.code ?? err.message
  } finally {
    client.close()
  }
  result.ms = Date.now() - started
  const damagedChunks = s.name === 'seed-damaged' ? 3 * files.length : 0
  result.ok = result.error === undefined && result.wrong === 0 && result.refused === damagedChunks && result.ms < ms
  return result
}
for (const s of seeders) await startSeeder(s)

const samples = new Map() // pid label → [{t, rss, fds}]
function sample() {
  for (const s of seeders) {
    for (const [role, d] of [
      ['serve', s.serve],
      ['announce', s.announce],
    ]) {
      const pid = d?.child.pid
      if (!pid || d.child.exitCode !== null) continue
      try {
        const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024
        const fds = readdirSync(`/proc/${pid}/fd`).length
        const key = `${s.name}/${role}/${pid}`
        if (!samples.has(key)) samples.set(key, [])
        samples.get(key).push({ t: Date.now(), rss, fds })
      } catch {
        /* exited meanwhile */
      }
    }
  }
}
const sampler = setInterval(sample, 2000)

const stats = {
  downloads: 0,
  deep: 0,
  completed: 0,
  killed: 0,
  deepKilled: 0,
  interrupted: 0,
  seederKills: 0,
  mismatches: 0,
  partialFinals: 0,
  failures: {},
}

async function downloadRound(round) {
  const f = files[rand(files.length)]
  const dir = join(work, `dl-${round % 4}`)
  if (rand(3) === 0) rmSync(dir, { recursive: true, force: true }) // sometimes fresh, usually resuming
  const final = join(dir, 'downloads', f.name)
  rmSync(final, { force: true })
  stats.downloads++
  // Half pipeline deeply: killed, they leave a seeder up to 64 prepared answers per connection that nobody reads.
  const deep = rand(2) === 0
  if (deep) stats.deep++
  const window = deep ? ['--window', '64'] : []
  const child = spawn(
    node,
    [
      BIN('p2p-download'),
      f.name,
      '--json',
      '--wait',
      '5',
      '--request-timeout',
      '3',
      ...window,
      ...disc.slice(0, 4),
      '--downloads-dir',
      join(dir, 'downloads'),
      ...common(dir),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  child.stderr.on('data', () => undefined)
  const exited = new Promise((resolve) => child.on('exit', (c) => resolve(c))) // before any wait: a resumed file can be done in 50 ms
  const fate = deep ? (rand(4) === 0 ? 2 : 0) : rand(4) // 0: SIGKILL mid-way, 1: SIGINT mid-way, else: let it finish
  if (fate < 2) {
    await sleep(50 + rand(400))
    if (child.exitCode === null) {
      child.kill(fate === 0 ? 'SIGKILL' : 'SIGINT')
      fate === 0 ? stats.killed++ : stats.interrupted++
      if (deep && fate === 0) stats.deepKilled++
    }
  }
  const code = await exited
  // Whatever happened, the final name holds nothing or the exact file.
  if (existsSync(final)) {
    if ((await sha256(final)) !== f.sha) stats.partialFinals++
    else if (code === 0) stats.completed++
  } else if (code === 0) {
    stats.mismatches++
  } else if (fate >= 2) {
    const c = (() => {
      try {
        return JSON.parse(out.trim().split('\n').pop()).code
      } catch {
        return `exit ${code}`
      }
    })()
    stats.failures[c] = (stats.failures[c] ?? 0) + 1
  }
}

async function chaos() {
  while (Date.now() < until) {
    await sleep(3000 + rand(5000))
    const s = seeders[rand(2)] // a healthy one
    log(`chaos: SIGKILL ${s.name}; restart in a few seconds`)
    s.serve.child.kill('SIGKILL')
    s.announce.child.kill('SIGKILL')
    stats.seederKills++
    await sleep(1000 + rand(3000))
    await startSeeder(s)
  }
}

log(`soak for ${minutes} min: ${files.length} files, 3 seeders (one damaged), downloads with random kills`)
const chaosLoop = chaos()
for (let round = 0; Date.now() < until; round++) {
  await downloadRound(round)
  if (round % 10 === 0) log(JSON.stringify(stats))
}
await chaosLoop
clearInterval(sampler)
sample()

const leaks = []
for (const [key, series] of samples) {
  if (series.length < 6) continue
  const early = median(series.slice(1, 4).map((s) => s.rss))
  const late = median(series.slice(-3).map((s) => s.rss))
  const fdEarly = median(series.slice(1, 4).map((s) => s.fds))
  const fdLate = median(series.slice(-3).map((s) => s.fds))
  leaks.push({
    process: key,
    samples: series.length,
    rssEarlyMB: +(early / 1e6).toFixed(1),
    rssLateMB: +(late / 1e6).toFixed(1),
    fdsEarly: fdEarly,
    fdsLate: fdLate,
    leak: late > early * 1.5 + 20e6 || fdLate > fdEarly + 20,
  })
}
// Every seeder still serves, at once, after all those killed clients (a healthy one may be mid-restart: wait for it).
for (const s of seeders) if (!s.port || s.serve.child.exitCode !== null) await startSeeder(s)
const serving = []
for (const s of seeders) serving.push(await stillServes(s))
log(`still serving: ${JSON.stringify(serving)}`)
const pids = seeders.flatMap((s) => [s.serve.child, s.announce.child])
for (const s of seeders) {
  await s.serve.stop()
  await s.announce.stop()
}
await sleep(200)
// What each p2p-serve said when it stopped: its budget back to 0, nothing released twice.
const budgets = seeders.map((s) => {
  const st = stoppedStats(s)
  return {
    seeder: s.name,
    stopped: st !== undefined,
    budgetInUse: st?.budgetInUse,
    violations: st?.violations,
    internalErrors: st?.errors?.E_INTERNAL ?? 0,
    readAheadReturned: st?.readAheadReturned,
    evictedStalled: st?.evictedStalled,
    connections: st?.connections,
  }
})
const budgetsOk = budgets.every((b) => b.stopped && b.budgetInUse === 0 && b.violations === 0 && b.internalErrors === 0)
stopDaemons()
await sleep(500)
const leftRunning = pids.filter((c) => {
  try {
    process.kill(c.pid, 0)
    return c.exitCode === null
  } catch {
    return false
  }
}).length
const ok =
  stats.partialFinals === 0 &&
  stats.mismatches === 0 &&
  stats.completed > 0 &&
  !leaks.some((l) => l.leak) &&
  leftRunning === 0 &&
  serving.every((r) => r.ok) &&
  budgetsOk
const report = { minutes, ok, stats, serving, budgets, leftRunning, processes: leaks }
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(join(ROOT, 'bench', 'results', 'soak.json'), `${JSON.stringify(report, null, 2)}\n`)
console.log(JSON.stringify(report, null, 2))
log(ok ? 'soak passed' : 'soak FAILED')
process.exit(ok ? 0 : 1)
