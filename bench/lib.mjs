// Shared pieces of the benchmark: timing child processes (wall time and peak
// RSS via /usr/bin/time), free ports, files, medians. Loopback only.
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const BIN = (name) => join(ROOT, 'bin', name)
export const BROADCAST = '127.255.255.255'

/** Run a command to completion; returns wall seconds, peak RSS (bytes) from GNU time, and stdout when piped. */
export async function timed(cmd, args, options = {}) {
  const useTime = existsSync('/usr/bin/time')
  const argv = useTime ? ['-f', '%M', cmd, ...args] : args
  const started = performance.now()
  const child = spawn(useTime ? '/usr/bin/time' : cmd, argv, { stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'], cwd: options.cwd, env: { ...process.env, ...options.env } })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (d) => { stderr += d })
  child.stdout?.on('data', (d) => { stdout += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000)
  const [code] = await once(child, 'exit')
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
  const rssKb = useTime ? Number(stderr.trim().split('\n').pop()) : NaN
  return { seconds, rss: rssKb * 1024, stdout }
}

/** Start a long-running process; `stop()` sends SIGTERM and returns its peak RSS (VmHWM) read just before. */
const running = new Set()

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
      try { resolve(JSON.parse(text.slice(0, nl))) } catch (err) { reject(err) }
    })
    child.on('exit', (code) => { if (!done) reject(new Error(`process exited (${code}) before printing its first line`)) })
  })
}

/** SIGKILL every daemon still running (on failure or Ctrl-C). */
export function stopDaemons() {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
}

export function daemon(cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: options.cwd })
  running.add(child)
  child.on('exit', () => running.delete(child))
  return {
    child,
    /** The first line of stdout, as JSON; the rest is drained so the process never blocks on a full pipe. */
    firstLine() {
      return firstJsonLine(child)
    },
    peakRss() {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
        return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) * 1024
      } catch {
        return NaN
      }
    },
    async stop() {
      const rss = this.peakRss()
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await once(child, 'exit').catch(() => undefined)
        clearTimeout(timer)
      }
      return rss
    },
  }
}

export async function freeUdpPort() {
  const socket = createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  const { port } = socket.address()
  socket.close()
  return port
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
 * Before a timed step that creates many files: flush and wait out ext4's
 * "recently deleted" window. This VM's ext4 has no journal, and then inode
 * allocation skips inodes freed in the last 5 s (35 s while their table block
 * is dirty), reading inode tables to find them (perf: recently_deleted,
 * find_inode_bit). The benchmark deletes thousands of chunk files between
 * steps; without this pause the next 1,024 creates paid for that, a cost of
 * the benchmark's own cleanup rather than of the command measured.
 */
export async function settleDeletes() {
  spawnSync('sync')
  await new Promise((resolve) => setTimeout(resolve, 6000))
}
