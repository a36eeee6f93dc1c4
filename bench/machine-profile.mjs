// A whole-machine CPU profile of one swarm round (`bench/swarm.mjs --perf`):
// `perf record -a` samples every CPU while the round runs, and the samples
// are read back as CPU-seconds by process role (from the command lines of
// the processes alive mid-round) and by what the CPU was doing (the
// innermost frames: SHA-256, the cipher, V8's compilers and collector, the
// kernel's network and file paths, or JavaScript and the runtime). perf
// charges only time on a CPU; a V8 `--cpu-prof` of a process waiting for a
// core charges the wait to whatever it was running, which on two saturated
// cores misleads (docs/benchmarks.md). Needs perf (Debian's linux-perf,
// bench/setup.sh) and root. Starts one perf process and stops it by PID.
import { spawn, spawnSync } from 'node:child_process'
import { basename, dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemon } from './lib.mjs'

const HZ = 249

/** Why a machine profile cannot be taken here, or undefined. */
export function machineProfileUnavailable() {
  if (spawnSync('perf', ['--version']).status !== 0) return 'perf is not installed (bench/setup.sh installs linux-perf)'
  if (process.getuid?.() !== 0) return 'perf record -a needs root'
  return undefined
}

/**
 * Start sampling every CPU into `file`; `stop()` ends it (SIGINT to that perf, by PID) once its data is written.
 * Started as one of the bench's daemons, so that an error, Ctrl-C or SIGTERM stops it with the rest.
 */
export async function startMachineProfile(file) {
  const perf = daemon('perf', ['record', '-q', '-B', '-e', 'cpu-clock', '-F', String(HZ), '-a', '-g', '-o', file])
  await sleep(1000) // perf's own start-up, before the round begins
  return { stop: () => perf.stop('SIGINT') }
}

/** The role of each running process by what it runs (a node script's name, or the program's): pid → role. */
export function processRoles() {
  const roles = new Map()
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout
  const known = [
    'p2p-download',
    'p2p-serve',
    'p2p-announce',
    'floor-peer.mjs',
    'aria2c',
    'opentracker',
    'curl',
    'nginx',
  ]
  for (const line of ps.split('\n')) {
    const m = /^\s*(\d+)\s+(\S+)(.*)$/.exec(line)
    if (!m) continue
    const program = basename(m[2]).replace(/:$/, '') // nginx names its processes "nginx: worker process"
    // A node process's script is the argument in a bin/ directory (--node-flags and their values come before it).
    const script =
      m[3]
        .trim()
        .split(/\s+/)
        .find((arg) => basename(dirname(arg)) === 'bin' || basename(arg) === 'floor-peer.mjs') ?? ''
    const role = known.find((k) => k === (program === 'node' ? basename(script) : program))
    if (role) roles.set(Number(m[1]), role)
  }
  return roles
}

/**
 * What a sample's CPU was doing, from its frames (innermost first, each `{ kernel, sym }`) and whether it is
 * a process's main thread. A kernel sample is placed by the kernel's own frames only (a user-space frame such as
 * libuv's uv__udp_io says nothing about where the kernel was).
 */
function categoryOf(frames, mainThread) {
  const leaf = frames[0]
  if (!leaf) return 'other'
  if (leaf.kernel) {
    if (/_safe_halt$|^(default_idle|cpuidle_enter|mwait_idle|acpi_idle)/.test(leaf.sym)) return 'idle'
    const kernel = frames.filter((f) => f.kernel).map((f) => f.sym)
    const has = (re) => kernel.some((sym) => re.test(sym))
    if (has(/^(tcp|udp|sock|inet|ip|ip6|veth|htb|netif|__netif|net_rx|net_tx|__dev|dev)_|sendmsg|recvmsg/))
      return 'kernel: network'
    if (has(/^(vfs_write|ksys_write|ksys_pwrite64|generic_perform_write|ext4_buffered_write_iter)$/))
      return 'kernel: file writes'
    if (has(/^(vfs_read|ksys_read|ksys_pread64|filemap_read|ext4_file_read_iter)$/)) return 'kernel: file reads'
    if (has(/^do_syscall_64$/)) return 'kernel: other system calls'
    return 'kernel: other (interrupts, page faults, scheduling)'
  }
  const any = (re) => frames.some((f) => re.test(f.sym))
  if (/sha256/.test(leaf.sym)) return 'SHA-256'
  if (/sha1_/.test(leaf.sym)) return 'SHA-1'
  if (/chacha|poly1305/.test(leaf.sym)) return 'ChaCha20-Poly1305'
  if (!mainThread && any(/compiler::|OptimizingCompileDispatcher/)) return "V8's optimizing compiler (its thread)"
  if (any(/Compile/)) return 'V8 compiling on the main thread (start-up, first calls)'
  if (/Scaveng|Marking|MarkCompact|Sweep|Evacuat/.test(leaf.sym)) return "V8's garbage collector"
  return 'user space: JavaScript and V8, libc (aria2c, curl, nginx: their own code)'
}

/**
 * CPU-seconds by category and role in `file`: { seconds: perf's span, byRole: Map(category → Map(role → s)) }.
 * Processes not in `roles` count as "other" (the kernel's own threads included).
 */
export async function readMachineProfile(file, roles) {
  const script = spawn('perf', ['script', '-i', file, '-F', 'pid,tid,time,ip,sym'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  return profileOfLines(createInterface({ input: script.stdout, crlfDelay: Infinity }), roles)
}

/** The same from the lines `perf script -F pid,tid,time,ip,sym` prints (any iterable of them; tests give text). */
export async function profileOfLines(lines, roles) {
  const table = new Map()
  const functions = new Map() // role → Map(JavaScript function → s): user-space samples of main threads
  const outermost = new Map() // role → Map(JavaScript function → s): the same, by the frame that began the work
  const inclusive = new Map() // role → Map(JavaScript function → s): main threads' samples with it on the stack
  const mainThreads = new Map() // role → s: every sample of a main thread
  let first = Infinity
  let last = -Infinity
  let sample
  /** One sample (1/HZ s) more for `name` in `outer`'s map under `key`: Map(key → Map(name → s)). */
  const add = (outer, key, name) => {
    const inner = outer.get(key) ?? new Map()
    inner.set(name, (inner.get(name) ?? 0) + 1 / HZ)
    outer.set(key, inner)
  }
  const finish = () => {
    if (!sample) return
    const role = sample.pid === 0 ? 'other' : (roles.get(sample.pid) ?? 'other')
    const mainThread = sample.pid === sample.tid
    const category = categoryOf(sample.frames, mainThread)
    add(table, category, role)
    const jsFrames = mainThread ? sample.frames.filter((f) => f.sym.startsWith('JS:')) : []
    if (jsFrames.length > 0 && category.startsWith('user space')) {
      add(functions, role, jsFunction(jsFrames[0].sym))
      add(outermost, role, jsFunction(jsFrames.at(-1).sym))
    }
    if (mainThread && category !== 'idle') {
      mainThreads.set(role, (mainThreads.get(role) ?? 0) + 1 / HZ)
      if (!inclusive.has(role)) inclusive.set(role, new Map()) // a role whose main threads ran no JavaScript too
      for (const name of new Set(jsFrames.map((f) => jsFunction(f.sym)))) add(inclusive, role, name)
    }
    sample = undefined
  }
  for await (const line of lines) {
    const head = /^\s*(\d+)\/(\d+)\s+([\d.]+):/.exec(line) // "pid/tid time:", then its frames, a blank line
    if (head && !line.startsWith('\t')) {
      finish()
      const time = Number(head[3])
      first = Math.min(first, time)
      last = Math.max(last, time)
      sample = { pid: Number(head[1]), tid: Number(head[2]), frames: [] }
    } else if (line.trim() === '') finish()
    else {
      const [address = '', ...sym] = line.trim().split(/\s+/)
      sample?.frames.push({ kernel: /^ffff[89a-f]/.test(address) && address.length === 16, sym: sym.join(' ') })
    }
  }
  finish()
  return { seconds: last - first, table, functions, outermost, inclusive, mainThreads }
}

/**
 * A JavaScript frame as node's --perf-basic-prof names it ("JS:*name file:///…/dist/cli/chunk-X.js:1:2", the
 * mark being the tier), without the tier and with the path from the package on ("dist/cli/…", "zod/…").
 */
function jsFunction(sym) {
  return sym
    .replace(/^JS:[*^~+]?/, '')
    .replace(/(file:\/\/)?\/\S*?\/(dist\/|node_modules\/)/, (_, _scheme, dir) => (dir === 'dist/' ? 'dist/' : ''))
}

/**
 * For --perf-js: each role's JavaScript functions by the main threads' CPU-seconds, the top `count` of each: by
 * the innermost JavaScript frame of user-space samples; by their outermost one (what began the work: a socket's
 * read, a datagram, a timer, a promise's continuation); and by every sample with the function anywhere on its
 * stack (kernel, hashing and cipher under it included; an event loop callback's stack ends at its callback).
 */
export function jsFunctionsMarkdown(profile, title, count = 12) {
  const out = []
  const sum = (byFunction) => [...byFunction.values()].reduce((a, b) => a + b, 0)
  const tables = [
    [profile.functions, 'user space by innermost JavaScript function', (_, f) => `${sum(f).toFixed(1)} CPU-s with one`],
    [
      profile.outermost,
      'user space by outermost JavaScript function (what began the work)',
      (_, f) => `${sum(f).toFixed(1)} CPU-s with one`,
    ],
    [
      profile.inclusive,
      'CPU by JavaScript function anywhere on the stack (inclusive)',
      (role) => `of ${(profile.mainThreads.get(role) ?? 0).toFixed(1)} CPU-s in all`,
    ],
  ]
  for (const [byRole, what, total] of tables)
    for (const [role, byFunction] of [...byRole].sort(([a], [b]) => a.localeCompare(b))) {
      if (role === 'other') continue
      out.push(
        '',
        `${title}, ${role}: the main threads' ${what} (${total(role, byFunction)})`,
        '',
        '| CPU-s | function |',
        '|---|---|',
        ...[...byFunction]
          .sort((a, b) => b[1] - a[1])
          .slice(0, count)
          .map(([name, seconds]) => `| ${seconds.toFixed(2)} | \`${name}\` |`),
      )
    }
  return out.join('\n')
}

/** A Markdown table of a profile: categories by role, CPU-seconds, the largest first. */
export function machineProfileMarkdown(profile, title) {
  const roles = [...new Set([...profile.table.values()].flatMap((row) => [...row.keys()]))].sort()
  const total = (row) => [...row.values()].reduce((a, b) => a + b, 0)
  const rows = [...profile.table].filter(([, row]) => total(row) >= 0.05).sort((a, b) => total(b[1]) - total(a[1]))
  const sum = new Map(roles.map((r) => [r, rows.reduce((s, [, row]) => s + (row.get(r) ?? 0), 0)]))
  const line = (name, row) =>
    `| ${name} | ${roles.map((r) => (row.get(r) ?? 0).toFixed(1)).join(' | ')} | ${total(row).toFixed(1)} |`
  return [
    `${title}: CPU-seconds by what the CPU did (rows) and whose it was (columns), over ${profile.seconds.toFixed(1)} s of perf samples on every CPU`,
    '',
    `| what | ${roles.join(' | ')} | all |`,
    `|---|${roles.map(() => '---|').join('')}---|`,
    ...rows.map(([name, row]) => line(name, row)),
    line('**all**', sum),
  ].join('\n')
}
