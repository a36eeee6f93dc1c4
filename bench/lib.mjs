// Shared pieces of the benchmark: timing child processes (wall time and peak
// RSS via /usr/bin/time), long-running daemons stopped by PID, free ports,
// files, medians.
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import {
  accessSync,
  constants,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * Node reads the file NODE_EXTRA_CA_CERTS names at every start, before any JavaScript: ~37 ms of CPU a process
 * (98 against 61 ms for `node -e 0`) on a machine whose environment sets it, as this one's does. Nothing the
 * bench runs uses TLS, so its children start without it, as on a machine that does not set it
 * (docs/benchmarks.md, "The machine"): so do the demo's and the soak's, which use these helpers too.
 * `extraCaCertsDropped` says whether it was set here or in a bench script that started this one (the full
 * run starts the swarm's as a child), for the reports' first line.
 */
export const extraCaCertsDropped =
  process.env.NODE_EXTRA_CA_CERTS !== undefined || process.env.BENCH_EXTRA_CA_CERTS_DROPPED === '1'
if (extraCaCertsDropped) process.env.BENCH_EXTRA_CA_CERTS_DROPPED = '1'
delete process.env.NODE_EXTRA_CA_CERTS

export const BIN = (name) => join(ROOT, 'bin', name)
export const BROADCAST = '127.255.255.255'

/** Run a command to completion; returns wall seconds, peak RSS (bytes) and CPU-seconds (all, user) from GNU time, and stdout when piped. */
export async function timed(cmd, args, options = {}) {
  const useTime = existsSync('/usr/bin/time')
  const argv = useTime ? ['-f', '%M %U %S', cmd, ...args] : args
  const started = performance.now()
  const child = spawn(useTime ? '/usr/bin/time' : cmd, argv, {
    stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'],
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    detached: ownGroups,
  })
  track(child)
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  child.stdout?.on('data', (d) => {
    stdout += d
  })
  const limitMs = options.timeoutMs ?? 600_000
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    kill(child, 'SIGKILL')
    // Exited, but something it left behind still holds its pipes: stop waiting for them.
    child.stdout?.destroy()
    child.stderr.destroy()
  }, limitMs)
  // 'close', not 'exit': a child's pipes may still hold its last output (time's figures, the receipt) at 'exit'.
  const [code] = await once(child, 'close')
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  if (timedOut) throw new Error(`${cmd} ${args.join(' ')} took longer than ${limitMs / 1000} s: killed`)
  if (code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${code}: ${`${stderr}\n${stdout}`.trim().split('\n').slice(-3).join(' | ')}`,
    )
  const [rssKb, user, system] = useTime ? stderr.trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN]
  return { seconds, rss: rssKb * 1024, cpu: user + system, user, stdout }
}

/** Every child the bench started and that still runs. */
const running = new Set()
let ownGroups = false
function track(child) {
  running.add(child)
  child.on('exit', () => running.delete(child))
}
function kill(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return
  if (ownGroups)
    try {
      process.kill(-child.pid, signal)
      return
    } catch {
      /* group gone */
    }
  child.kill(signal)
}

/**
 * From now on every child is the leader of its own process group (spawned
 * detached), so that killing it by the PID we got reaches the command under
 * /usr/bin/time, `ip netns exec` and a tool's helpers too. Children then no
 * longer get the terminal's Ctrl-C, so this also installs the handlers that
 * kill them all (and run `cleanup`, e.g. deleting namespaces) on SIGINT,
 * SIGTERM and exit.
 */
export function ownProcessGroups(cleanup = () => undefined) {
  ownGroups = true
  const onSignal = (signal) => {
    process.stderr.write(`\nbench: ${signal}: stopping every process it started\n`)
    stopDaemons()
    cleanup()
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('exit', () => {
    stopDaemons()
    cleanup()
  })
}

export function firstJsonLine(child) {
  return new Promise((resolve, reject) => {
    let text = ''
    let done = false
    child.stdout.on('data', (piece) => {
      if (done) return
      text += piece
      const nl = text.indexOf('\n')
      if (nl < 0) return
      done = true
      try {
        resolve(JSON.parse(text.slice(0, nl)))
      } catch (err) {
        reject(err)
      }
    })
    child.on('exit', (code) => {
      if (!done) reject(new Error(`process exited (${code}) before printing its first line`))
    })
  })
}

/** SIGKILL every daemon still running (on failure or Ctrl-C). */
export function stopDaemons() {
  for (const child of running) kill(child, 'SIGKILL')
}

/**
 * Start a long-running process; `stop()` sends SIGTERM (SIGKILL after 5 s)
 * and returns its peak RSS (VmHWM) read just before. Its stdout is kept (the
 * last 64 KiB) so that the pipe never fills: `firstLine()` and `lastLine()`
 * parse from it.
 */
export function daemon(cmd, args, options = {}) {
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'],
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    detached: ownGroups,
  })
  track(child)
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (piece) => {
    out = (out + piece).slice(-65_536)
  })
  const exited = once(child, 'close').catch(() => undefined) // 'close': its stdout is read to the end
  return {
    child,
    /** The first line of stdout, as JSON. */
    firstLine() {
      return firstJsonLine(child)
    },
    /** The last complete line of stdout so far, as JSON (undefined if none or not JSON). */
    lastLine() {
      const lines = out.trimEnd().split('\n')
      try {
        return JSON.parse(lines[lines.length - 1])
      } catch {
        return undefined
      }
    },
    /** CPU-seconds it has used so far (/proc/PID/stat utime + stime, at 100 ticks a second). */
    cpuSeconds() {
      try {
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')
        return (Number(fields[11]) + Number(fields[12])) / 100
      } catch {
        return NaN
      }
    },
    peakRss() {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
        return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) * 1024
      } catch {
        return NaN
      }
    },
    async stop(signal = 'SIGTERM') {
      const rss = this.peakRss()
      if (child.exitCode === null && child.signalCode === null) {
        kill(child, signal)
        const timer = setTimeout(() => kill(child, 'SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
      return rss
    },
  }
}

export async function freeUdpPort() {
  // Below the ephemeral range (32768-60999 here), where a bind to port 0 never lands: no other process
  // can be handed this port between the check and the commands' bind (test/helpers/swarm.ts says more).
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const socket = createSocket('udp4')
    const bound = await new Promise((resolve) => {
      socket.once('error', () => resolve(false))
      socket.bind(port, '0.0.0.0', () => resolve(true))
    })
    socket.close()
    if (bound) return port
  }
  throw new Error('no free UDP port in 20000-31999')
}

/** A TCP port free on 127.0.0.1 right now (for tools that cannot take port 0 and print theirs). */
export async function freeTcpPort() {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Poll `check` (sync or async, truthy = done) every 100 ms until it holds; throws after `ms`. */
export async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Where a command is on PATH (sbin included), or undefined. */
export function which(cmd) {
  for (const dir of `${process.env.PATH ?? ''}:/usr/sbin:/sbin`.split(':').filter(Boolean)) {
    const path = join(dir, cmd)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      /* not here */
    }
  }
  return undefined
}

/** A random file of `size` bytes at `path`, reused when it already has that size. */
export async function sampleFile(path, size) {
  if (existsSync(path) && statSync(path).size === size) return
  const out = createWriteStream(path)
  for (let done = 0; done < size; done += 8 << 20) {
    if (!out.write(randomBytes(Math.min(8 << 20, size - done)))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

export async function sha256(path) {
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(piece)
  return hash.digest('hex')
}

/**
 * CPU-seconds the whole machine has spent busy since boot (/proc/stat: all
 * but idle and iowait, at 100 ticks a second): the difference over a round
 * says how much of the cores it used, whoever used them (kernel included).
 */
export function machineCpuSeconds() {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = ticks
    return (user + nice + system + irq + softirq + steal) / 100
  } catch {
    return NaN
  }
}

/** `--name value` from a command line, else `fallback`. */
export const optionReader = (args) => (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}

export function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

export function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)(KiB|MiB|GiB)?$/.exec(text ?? '')
  if (!m) throw new Error(`bad size ${text}: use e.g. 256MiB or 1GiB`)
  return Math.round(Number(m[1]) * ({ KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2]] ?? 1))
}

/**
 * Before a timed step that creates many files: flush what earlier steps
 * wrote (its writeback does not land in the step), and pause. This VM's
 * ext4 has no journal, and then inode allocation skips inodes freed
 * recently, looking up each one's inode table block (perf: recently_deleted,
 * find_inode_bit): the benchmark deletes thousands of chunk files between
 * steps. The pause covered that window on older kernels (5 s); on current
 * ones (this machine's 6.18) it is 60 s, 360 s while the inode table block
 * is dirty, too long to wait out: such steps work in fresh directories,
 * usually placed away from the removed files (freshDir).
 */
export async function settleDeletes() {
  spawnSync('sync')
  await new Promise((resolve) => setTimeout(resolve, 6000))
}

/**
 * A new directory's path in `work`, with a random name, the earlier ones of
 * `prefix` removed (removeOld). On ext4 without a journal (this machine's
 * disk) a create skips every inode of its group freed in the last 60 s
 * (360 s while that inode table block is dirty), looking each one up: soon
 * after a removal of 10,000 files, each of the next 10,000 creates there
 * cost 0.15-0.3 ms, and the run measured the bench's own cleanup. With
 * `work` marked a top of directory hierarchies (markTopDir), ext4 places
 * each new directory in it like a top-level one: in the flex group with the
 * fewest directories among those with at least the average free inodes and
 * space, searched from the name's hash; usually not the one the removed
 * files left (docs/benchmarks.md, "The folder bench measured its own
 * deletes").
 */
export function freshDir(work, prefix) {
  removeOld(work, prefix)
  return join(work, `${prefix}-${randomBytes(4).toString('hex')}`)
}

/** What freshDir made in `work` for `prefix`, and a directory named `prefix` itself (the bench's before it), removed. */
export function removeOld(work, prefix) {
  for (const name of readdirSync(work)) {
    if (name === prefix || name.startsWith(`${prefix}-`)) rmSync(join(work, name), { recursive: true, force: true })
  }
}

/**
 * `work` made, and marked a top of directory hierarchies for ext4's allocator (freshDir). Where that cannot be
 * done (no chattr, another filesystem) one line says so and the bench goes on.
 */
export function markTopDir(work) {
  mkdirSync(work, { recursive: true })
  const r = spawnSync('chattr', ['+T', work], { encoding: 'utf8' })
  if (r.status !== 0)
    process.stderr.write(
      `bench: ${work} not marked for ext4's allocator (chattr +T: ${r.error?.message ?? r.stderr.trim()})\n`,
    )
}

/** The store and log flags of a command working in `dir`. */
export const storeFlags = (dir) => ['--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs')]

/** p2p-download's arguments for `name`, working in `dir` (its downloads in `dir/downloads`), discovering on loopback. */
export const downloadArgs = (dir, name, udpPort) => [
  BIN('p2p-download'),
  name,
  ...['--udp-port', String(udpPort), '--broadcast', BROADCAST],
  ...['--downloads-dir', join(dir, 'downloads'), '--json'],
  ...storeFlags(dir),
]

/**
 * A seeder in `dir`: p2p-split `path` into its store, then p2p-serve (127.0.0.1, a free port) and
 * p2p-announce (every second, to 127.255.255.255 on `udpPort`); resolves once the server listens, with
 * how long the split took.
 */
export async function startSeed(dir, path, udpPort, extraSplit = [], extraPeer = []) {
  const node = process.execPath
  const split = await timed(node, [BIN('p2p-split'), path, ...storeFlags(dir), ...extraSplit])
  const serve = daemon(node, [
    BIN('p2p-serve'),
    ...['--host', '127.0.0.1', '--port', '0', '--json'],
    ...storeFlags(dir),
    ...extraPeer,
  ])
  const { port } = await serve.firstLine()
  const announce = daemon(node, [
    BIN('p2p-announce'),
    '--port',
    String(port),
    '--udp-port',
    String(udpPort),
    '--broadcast',
    BROADCAST,
    '--interval',
    '1',
    '--json',
    ...storeFlags(dir),
    ...extraPeer,
  ])
  return { dir, port, serve, announce, splitSeconds: split.seconds }
}

/**
 * From a download's log: its first line to its manifest arriving (the first
 * bytes from a peer), that moment's wall clock, and the id it got.
 */
export function startToManifest(log) {
  const lines = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
  const start = lines.find((l) => l.msg === 'start')
  const manifest = lines.find((l) => l.msg === 'download start')
  return { firstByteMs: manifest.time - start.time, manifestAt: manifest.time, id: manifest.id }
}

/**
 * `--help` or `-h`: print the script's first comment block (its usage line
 * and what it does) and exit 0, before it builds or runs anything.
 */
export function exitOnHelp(args, scriptUrl) {
  if (!args.includes('--help') && !args.includes('-h')) return
  const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n')
  const first = lines.findIndex((line) => line.startsWith('//'))
  const end = lines.findIndex((line, i) => i > first && !line.startsWith('//'))
  process.stdout.write(
    `${lines
      .slice(first, end)
      .map((line) => line.replace(/^\/\/ ?/, ''))
      .join('\n')}\n`,
  )
  process.exit(0)
}
