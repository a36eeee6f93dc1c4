import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Cleanup, onCleanup } from './cleanup.js'
import { BIN, type RunResult, runBin } from './cli.js'
import { randomFile, sha256File, tmpDir } from './files.js'

/**
 * Real seeders and downloaders for tests: the built commands as separate
 * processes, discovery on loopback broadcast, free ports. Every process is
 * registered with the test and killed (by PID) when it ends.
 */

export const BROADCAST = '127.255.255.255'

/**
 * A UDP port that is free now and that no other process can be handed by the
 * kernel meanwhile: drawn below the ephemeral range (32768–60999 here), where
 * a bind to port 0 never lands. (A port from a bind to 0 could be handed to
 * another test's socket between this check and the commands' bind: the
 * command then fails with E_USAGE, as it should.) Nor by another test file
 * running beside this one: each port drawn is reserved for the run by a file
 * only one process can create (a broadcast port two test files had both
 * drawn once carried one file's announcements into the other's dictionary).
 */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (!reservePort(port)) continue
    const socket = createSocket('udp4')
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false))
      socket.bind(port, '0.0.0.0', () => resolve(true))
    })
    socket.close()
    if (bound) return port
  }
  throw new Error('no free UDP port in 20000-31999')
}

const RESERVED_PORTS = join(tmpdir(), 'p2p-test-udp-ports')
/** A reservation older than this is a crashed run's: taken over. */
const RESERVATION_MS = 60 * 60_000

const reserved: string[] = []
process.on('exit', () => {
  for (const path of reserved) rmSync(path, { force: true })
})

/** Whether `port` is now this process's until it exits: no other test process holds it (a crashed one's, an hour). */
function reservePort(port: number): boolean {
  mkdirSync(RESERVED_PORTS, { recursive: true })
  const path = join(RESERVED_PORTS, String(port))
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' })
  } catch {
    try {
      if (Date.now() - statSync(path).mtimeMs < RESERVATION_MS) return false
      writeFileSync(path, String(process.pid))
    } catch {
      return false
    }
  }
  reserved.push(path)
  return true
}

export interface Daemon {
  child: ChildProcess
  /** Stop with SIGTERM (SIGKILL after 5 s); resolves with the exit code. */
  stop(): Promise<number | null>
  kill(signal?: NodeJS.Signals): void
  /** The last 4,000 characters it wrote to stderr (for assertion messages). */
  stderr(): string
  /** The last 4,000 characters it wrote to stdout (a --json daemon's last line says how it stopped). */
  stdout(): string
}

export function startDaemon(
  t: Cleanup,
  name: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Daemon & { firstLine: Promise<Record<string, unknown>> } {
  const child = spawn(process.execPath, [BIN(name), ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let stdout = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000)
  })
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    let text = ''
    let done = false
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout = (stdout + d).slice(-4000)
      if (done) return
      text += d
      const nl = text.indexOf('\n')
      if (nl < 0) return
      done = true
      let line: Record<string, unknown>
      try {
        line = JSON.parse(text.slice(0, nl)) as Record<string, unknown>
      } catch {
        return reject(new Error(`${name} printed a line that is not JSON: ${text.slice(0, nl)}`))
      }
      // A command that failed prints its error as its one --json line: that is no start.
      if (line.ok === false) reject(new Error(`${name} failed to start: ${text.slice(0, nl)}`))
      else resolve(line)
    })
    child.on('exit', (code) => {
      if (!done) reject(new Error(`${name} exited (${code}) before printing: ${stderr}`))
    })
  })
  firstLine.catch(() => undefined)
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    const [code] = await exited
    clearTimeout(timer)
    return code as number | null
  }
  onCleanup(t, async () => {
    await stop()
  })
  return {
    child,
    firstLine,
    stop,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal)
    },
    stderr: () => stderr,
    stdout: () => stdout,
  }
}

export const storeArgs = (dir: string): string[] => [
  '--chunks-dir',
  join(dir, 'chunks'),
  '--logs-dir',
  join(dir, 'logs'),
]

export interface Seeder {
  dir: string
  port: number
  /** The peer ID its server gives (its key's when encrypted) and its announcements carry. */
  peerId: string
  serve: Daemon
  announce: Daemon
}

/**
 * p2p-serve (free port) and p2p-announce for the store in `dir` (split
 * beforehand). Resolves once the server listens and the announcer has sent
 * its start-up burst: from then on it answers a query at once.
 */
export async function startSeeder(
  t: Cleanup,
  dir: string,
  udpPort: number,
  options: {
    interval?: number
    host?: string
    announceArgs?: string[]
    extra?: string[]
    /** For p2p-serve alone (a server speaking another transport than its announcer announces). */
    serveExtra?: string[]
    announceExtra?: string[]
    announcePort?: number
  } = {},
): Promise<Seeder> {
  await mkdir(dir, { recursive: true })
  const extra = options.extra ?? []
  const serve = startDaemon(t, 'p2p-serve', [
    '--host',
    options.host ?? '127.0.0.1',
    '--port',
    '0',
    '--json',
    ...storeArgs(dir),
    ...extra,
    ...(options.serveExtra ?? []),
  ])
  const { port, peerId } = (await serve.firstLine) as { port: number; peerId: string }
  const announce = startDaemon(t, 'p2p-announce', [
    '--json',
    '--port',
    String(options.announcePort ?? port),
    '--udp-port',
    String(udpPort),
    '--broadcast',
    BROADCAST,
    '--interval',
    String(options.interval ?? 0.5),
    ...storeArgs(dir),
    ...extra,
    ...(options.announceArgs ?? []),
    ...(options.announceExtra ?? []),
  ])
  await announce.firstLine // one line per burst sent
  return { dir, port, peerId, serve, announce }
}

export async function split(dir: string, file: string, extra: string[] = []): Promise<{ id: string }> {
  const r = await runBin('p2p-split', [file, '--json', ...storeArgs(dir), ...extra])
  if (r.code !== 0) throw new Error(`split failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as { id: string }
}

export function downloadArgs(dir: string, udpPort: number, extra: string[] = []): string[] {
  return [
    '--udp-port',
    String(udpPort),
    '--broadcast',
    BROADCAST,
    '--downloads-dir',
    join(dir, 'downloads'),
    '--dictionary',
    join(dir, 'dictionary.json'),
    '--json',
    ...storeArgs(dir),
    ...extra,
  ]
}

/** Run p2p-download to completion; `log` is the tail of its log file (for assertion messages). */
export async function runDownload(
  dir: string,
  udpPort: number,
  args: string[],
  timeoutMs = 120_000,
): Promise<RunResult & { result?: Record<string, unknown>; log: string }> {
  const r = await runBin('p2p-download', downloadArgs(dir, udpPort, args), { timeoutMs })
  const log = (await readFile(join(dir, 'logs', 'download.log'), 'utf8').catch(() => ''))
    .split('\n')
    .slice(-8)
    .join('\n')
  const line = r.stdout.trim().split('\n').pop()
  let result: Record<string, unknown> | undefined
  try {
    result = line ? (JSON.parse(line) as Record<string, unknown>) : undefined
  } catch {
    result = undefined
  }
  return { ...r, log, ...(result ? { result } : {}) }
}

/** A random file of `size` bytes split (256 KiB chunks) into `<dir>/seed`'s store: its id and SHA-256. */
export async function seeded(
  t: Cleanup,
  size = 3_000_000,
): Promise<{ dir: string; file: string; id: string; sha: string }> {
  const dir = await tmpDir(t)
  const file = join(dir, 'f.bin')
  await randomFile(file, size)
  const { id } = await split(join(dir, 'seed'), file, ['--chunk-size', '256KiB'])
  return { dir, file, id, sha: await sha256File(file) }
}
