#!/usr/bin/env node
// npm run bench:swarm [-- --size 256MiB --hosts 1,4,8,16 --rounds 1 --rate 200mbit --delay 2ms --tools p2pshare,p2pshare-seed,bittorrent,http,node-floor,node-floor-sealed,node-floor-checked --by id --min-burst-gap 0.25 --p2p-layout daemons --keep --cpu-prof p2p-download --perf --perf-js]
// One seeder host and N downloader hosts on a bridge, in the bench's own
// network namespaces (bench/netns.mjs), every link shaped in both
// directions; all N downloaders start together. For each N and each tool
// (p2pshare as three commands a host and as one `p2p-download --seed` a
// host, aria2c BitTorrent, curl ← nginx, and the thinnest Node swarm: plain,
// sealed as p2pshare's connections are, and sealed with the whole-file check p2pshare's
// protocol asks for: swarm-floor.mjs) in the same run: when each
// downloader finished, when the last did, and what the seeder's link sent.
// Every output's SHA-256 is checked against the source. Root only; every
// process is stopped by PID and every namespace deleted, also on Ctrl-C,
// on error and on timeout.
import { spawnSync } from 'node:child_process'
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import {
  aria2Args,
  BT_TOOLS,
  doneHook,
  HTTP_TOOLS,
  inNs,
  makeTorrent,
  missingTools,
  startNginx,
  startTracker,
} from './anchors.mjs'
import {
  BIN,
  daemon,
  exitOnHelp,
  machineCpuSeconds,
  optionReader,
  ownProcessGroups,
  parseSize,
  sampleFile,
  sha256,
  stopDaemons,
  timed,
  waitFor,
  which,
} from './lib.mjs'
import {
  jsFunctionsMarkdown,
  machineProfileMarkdown,
  machineProfileUnavailable,
  processRoles,
  readMachineProfile,
  startMachineProfile,
} from './machine-profile.mjs'
import { BenchLan, netnsUnavailable } from './netns.mjs'
import { prepareNodeFloor, roundNodeFloor } from './swarm-floor.mjs'
import { parseRate, swarmReport } from './swarm-report.mjs'

const args = process.argv.slice(2)
exitOnHelp(args, import.meta.url)
const opt = optionReader(args)
const size = parseSize(opt('size', '256MiB'))
const counts = opt('hosts', '1,4,8,16').split(',').map(Number)
// --rounds K: each N's round of every tool K times, the tools' order reversed every other time (so no tool always
// runs first, after the idle between N's); the report gives each N and tool its median round, every round's time,
// and p2pshare's time ÷ aria2c's round by round. Identical rounds here differ by up to ~6 %.
const repeats = Number(opt('rounds', '1'))
if (!Number.isInteger(repeats) || repeats < 1)
  throw new Error(`--rounds takes a whole number ≥ 1, not ${opt('rounds', '1')}`)
const rate = opt('rate', '200mbit')
const delay = opt('delay', '2ms')
const tools = opt(
  'tools',
  'p2pshare,p2pshare-seed,bittorrent,http,node-floor,node-floor-sealed,node-floor-checked',
).split(',')
const work = opt('dir', '/tmp/p2p-bench-swarm')
// --cpu-prof p2p-download,p2p-serve: V8 CPU profiles of those commands (every host, every round) in <dir>/profiles/<command>/.
const profiled = opt('cpu-prof', '').split(',')
// --node-flags '--maglev --max-opt=2': V8/Node flags for every p2p command and the Node floor (experiments with the runtime's cost).
const nodeFlags = opt('node-flags', '').split(' ').filter(Boolean)
// --perf: a whole-machine profile of each round (perf record -a; machine-profile.mjs), printed after it.
// --perf-js: the same, and the p2p commands run with --perf-basic-prof-only-functions and
// --interpreted-frames-native-stack so that their JavaScript, interpreted or compiled, has names in it:
// each role's top JavaScript functions are printed too (their map files, /tmp/perf-<pid>.map, are
// removed after the round).
const perfJs = args.includes('--perf-js')
const perf = perfJs || args.includes('--perf')
const node = process.execPath
const progress = (line) => process.stderr.write(`\x1b[2K\rswarm: ${line}${process.stderr.isTTY ? '' : '\n'}`)
const NAME = 'swarm-sample.bin'
// The Node floor's chunk: p2pshare's default for this size (1 MiB).
const FLOOR_CHUNK = 1024 * 1024
// p2p-download by the file's id (as aria2c is given the torrent, curl the URL), or by name: then each
// download's final name also waits until no other file of that name has answered for 1.2 s (docs/architecture.md).
const by = opt('by', 'id')
// --min-burst-gap S: every p2p-announce's gap between bursts for store changes (default: the command's own).
const announceGap = opt('min-burst-gap', '') ? ['--min-burst-gap', opt('min-burst-gap', '')] : []
// The `p2pshare` tool's layout (`p2pshare-seed` is always one process per host: roundP2p).
const layout = opt('p2p-layout', 'daemons')
if (layout !== 'seed' && layout !== 'daemons') throw new Error(`--p2p-layout takes seed or daemons, not ${layout}`)
if (by !== 'id' && by !== 'name') throw new Error(`--by takes id or name, not ${by}`)
// What one transfer at the link's rate takes, for the time bounds: a round may take N of them (HTTP) and more under load.
const linkSeconds = (size * 8) / parseRate(rate)
const roundTimeoutMs = (n) => Number(opt('round-timeout', '0')) * 1000 || (120 + 4 * n * linkSeconds) * 1000

let lan
let root
let roundName = ''
/** Namespaces go always; the run's files unless --keep (they hold N copies of the file). */
const cleanup = () => {
  lan?.destroy()
  if (root && !args.includes('--keep')) rmSync(root, { recursive: true, force: true })
}

/** p2p command argv for `host`: its own store, logs and dictionary. */
const p2p = (host, name, extra) =>
  inNs(host.ns, node, [
    ...nodeFlags,
    // Interpreted functions named too: they are most of a short-lived command's JavaScript, and without the flag
    // perf sees only V8's interpreter there. The split is before any round.
    ...(perfJs && name !== 'p2p-split'
      ? ['--perf-basic-prof-only-functions', '--interpreted-frames-native-stack']
      : []),
    ...(profiled.includes(name) ? ['--cpu-prof', '--cpu-prof-dir', join(work, 'profiles', name)] : []),
    BIN(name),
    ...extra,
    '--chunks-dir',
    join(host.dir, 'chunks'),
    '--logs-dir',
    join(host.dir, 'logs'),
    ...(name === 'p2p-download' ? ['--dictionary', join(host.dir, 'content_dictionary.json')] : []),
  ])

function freshDirs(hosts) {
  for (const h of hosts) {
    rmSync(h.dir, { recursive: true, force: true })
    mkdirSync(h.dir, { recursive: true })
  }
}

/**
 * Start every downloader at once and time each to its exit (`finish` may
 * resolve earlier, for tools that go on seeding). Returns seconds from the
 * common start and what each printed.
 */
async function together(downloaders, start) {
  const profile = perf ? await startMachineProfile(join(root, 'perf.data')) : undefined
  const t0 = performance.now()
  const wall0 = Date.now()
  const cpu0 = machineCpuSeconds()
  const runs = downloaders.map((h) =>
    start(h, wall0).then((r) => ({
      ...r,
      seconds: r.doneAt ? (r.doneAt - wall0) / 1000 : (performance.now() - t0) / 1000,
    })),
  )
  let roles = new Map()
  // Two seconds in, every process of the round is running: whose each one is, for the profile.
  const snapshot = profile && setTimeout(() => (roles = processRoles()), 2000)
  let results
  try {
    results = await Promise.all(runs)
  } finally {
    clearTimeout(snapshot)
    await profile?.stop()
  }
  const machineCpu = machineCpuSeconds() - cpu0
  if (profile) {
    const read = await readMachineProfile(join(root, 'perf.data'), roles)
    console.log(
      `\n${machineProfileMarkdown(read, roundName)}\n${perfJs ? `${jsFunctionsMarkdown(read, roundName, 25)}\n` : ''}`,
    )
    rmSync(join(root, 'perf.data'), { force: true })
    if (perfJs) for (const pid of roles.keys()) rmSync(`/tmp/perf-${pid}.map`, { force: true })
  }
  return { results, machineCpu }
}

async function verify(paths, expected) {
  for (const path of paths) {
    const got = await sha256(path)
    if (got !== expected) throw new Error(`${path} is not identical to the source: ${got} ≠ ${expected}`)
  }
}

const tx = (seeder) => lan.counters(seeder).tx

/**
 * p2pshare: the seeder runs p2p-serve + p2p-announce on a store it split.
 * Every downloader host runs (`layout` daemons: the `p2pshare` tool, unless
 * --p2p-layout seed) a p2p-serve + p2p-announce pair on its own (empty)
 * store beside a plain p2p-download, or (`layout` seed: the `p2pshare-seed`
 * tool) one `p2p-download --seed`, which serves and announces the chunks it
 * writes and goes on after its receipt until the round ends, as aria2c
 * does; all downloads start together. Defaults everywhere (ports,
 * broadcast "auto" → 10.78.0.255, intervals), as users run them.
 */
async function roundP2p(seeder, downloaders, expected, timeoutMs, { fileId, layout }) {
  freshDirs(downloaders)
  const daemons = []
  const seeding = [] // --seed: each downloader, running on after its receipt
  const serveOn = async (h) => {
    const serve = daemon(...p2p(h, 'p2p-serve', ['--json']), { cwd: h.dir })
    await serve.firstLine()
    const announce = daemon(...p2p(h, 'p2p-announce', ['--json', ...announceGap]), { cwd: h.dir })
    daemons.push({ host: h, serve, announce })
    await announce.firstLine() // its first burst: started, so its start-up is not counted in the round
  }
  try {
    await serveOn(seeder)
    if (layout === 'daemons') await Promise.all(downloaders.map(serveOn))
    const before = tx(seeder)
    const daemonCpu = (role) => daemons.reduce((sum, d) => sum + d[role].cpuSeconds(), 0)
    const cpuBefore = { serve: daemonCpu('serve'), announce: daemonCpu('announce') }
    const { results, machineCpu } = await together(downloaders, async (h) => {
      const what = by === 'id' ? ['--id', fileId] : [NAME]
      const flags = [...what, '--json', '--downloads-dir', join(h.dir, 'downloads')]
      if (layout === 'daemons') {
        const r = await timed(...p2p(h, 'p2p-download', flags), { stdout: 'pipe', cwd: h.dir, timeoutMs })
        return { rss: r.rss, cpu: r.cpu, receipt: JSON.parse(r.stdout.trim().split('\n').pop()) }
      }
      const d = daemon(...p2p(h, 'p2p-download', [...flags, '--seed']), { cwd: h.dir })
      seeding.push(d)
      const timer = setTimeout(() => d.stop('SIGKILL'), timeoutMs)
      const receipt = await d.firstLine().finally(() => clearTimeout(timer))
      return { receipt, doneAt: Date.now(), process: d }
    })
    const seederSent = tx(seeder) - before
    // The seeding downloaders' CPU and peak RSS once the last is done (serving and announcing included).
    for (const r of results) if (r.process) Object.assign(r, { cpu: r.process.cpuSeconds(), rss: r.process.peakRss() })
    // CPU-seconds by role over the round (the daemons' from the common start to the last exit).
    const roles = {
      download: results.reduce((sum, r) => sum + r.cpu, 0),
      serve: daemonCpu('serve') - cpuBefore.serve,
      announce: daemonCpu('announce') - cpuBefore.announce,
    }
    const served = [] // by each downloader's server, as it counts
    // Chunks the downloaders' servers hashed before serving them, of those they served (the download's check vouches for the rest).
    const hashedFirst = { hashed: 0, chunks: 0 }
    const count = (stats) => {
      served.push(stats?.bytesServed ?? NaN)
      hashedFirst.hashed += stats?.hashedChunks ?? NaN
      hashedFirst.chunks += stats?.chunksServed ?? NaN
    }
    for (const d of seeding) {
      await d.stop()
      count(d.lastLine()?.stats)
    }
    for (const d of daemons) {
      await d.announce.stop()
      await d.serve.stop()
      if (d.host !== seeder) count(d.serve.lastLine()?.stats)
    }
    await verify(
      downloaders.map((h) => join(h.dir, 'downloads', NAME)),
      expected,
    )
    // Where each downloader's bytes came from, by its own receipt; what it fetched beyond them was duplicates.
    let fromSeeder = 0
    let fromPeers = 0
    for (const r of results) {
      for (const p of r.receipt.peers ?? []) {
        if (p.peer.split(':')[0] === seeder.address) fromSeeder += p.bytes
        else fromPeers += p.bytes
      }
    }
    const fetched = results.reduce((sum, r) => sum + (r.receipt.fetchedBytes ?? NaN), 0)
    return {
      layout,
      seconds: results.map((r) => r.seconds),
      rss: results.map((r) => r.rss),
      seederSent,
      fromSeeder,
      fromPeers,
      fetched,
      served,
      hashedFirst,
      machineCpu,
      roles,
    }
  } finally {
    for (const d of [...seeding, ...daemons.flatMap((d) => [d.announce, d.serve])]) await d.stop()
  }
}

/**
 * aria2c BitTorrent: opentracker and an aria2c seeder on the seeder host,
 * one aria2c per downloader host that keeps seeding after it is complete
 * (as p2pshare's downloaders do) until the last one is; each one's finish
 * is the time its completion hook wrote.
 */
async function roundBitTorrent(seeder, downloaders, expected, timeoutMs, bt) {
  freshDirs(downloaders)
  const tracker = await startTracker({
    dir: join(bt.dir, 'tracker'),
    address: seeder.address,
    port: 6969,
    ns: seeder.ns,
    infoHash: bt.infoHash,
  })
  const peers = []
  try {
    const [cmd, argv] = inNs(
      seeder.ns,
      'aria2c',
      aria2Args({ torrent: bt.torrent, dir: bt.seedDir, port: 6881, seed: true }),
    )
    peers.push(daemon(cmd, argv))
    await tracker.untilSeeders(1, 300_000)
    const before = tx(seeder)
    const deadline = Date.now() + timeoutMs
    const { results, machineCpu } = await together(downloaders, async (h) => {
      const done = join(h.dir, 'done')
      const [c, a] = inNs(
        h.ns,
        'aria2c',
        aria2Args({ torrent: bt.torrent, dir: join(h.dir, 'downloads'), port: 6881, keepSeeding: true, hook: bt.hook }),
      )
      const peer = daemon(c, a, { env: { BENCH_DONE_FILE: done }, cwd: h.dir })
      peers.push(peer)
      await waitFor(
        () => {
          if (peer.child.exitCode !== null)
            throw new Error(`aria2c on ${h.address} exited (${peer.child.exitCode}) before it was complete`)
          return existsSync(done)
        },
        Math.max(0, deadline - Date.now()),
        `aria2c on ${h.address} complete`,
      )
      return { doneAt: Number(readFileSync(done, 'utf8')), rss: peer.peakRss() }
    })
    const seederSent = tx(seeder) - before
    for (const p of peers) await p.stop()
    await verify(
      downloaders.map((h) => join(h.dir, 'downloads', NAME)),
      expected,
    )
    return {
      seconds: results.map((r) => Math.max(0, r.seconds)),
      rss: results.map((r) => r.rss),
      seederSent,
      machineCpu,
    }
  } finally {
    for (const p of peers) await p.stop()
    await tracker.stop()
  }
}

/** HTTP: nginx (sendfile) on the seeder host, one curl per downloader host; the seeder's link is the wall. */
async function roundHttp(seeder, downloaders, expected, timeoutMs, http) {
  freshDirs(downloaders)
  const nginx = await startNginx({
    dir: join(http.dir, 'nginx'),
    root: http.root,
    address: seeder.address,
    port: 80,
    ns: seeder.ns,
  })
  try {
    const before = tx(seeder)
    const { results, machineCpu } = await together(downloaders, async (h) => {
      const [cmd, argv] = inNs(h.ns, 'curl', ['-s', '-f', '-o', join(h.dir, NAME), nginx.url(NAME)])
      return { rss: (await timed(cmd, argv, { timeoutMs })).rss }
    })
    const seederSent = tx(seeder) - before
    await verify(
      downloaders.map((h) => join(h.dir, NAME)),
      expected,
    )
    return { seconds: results.map((r) => r.seconds), rss: results.map((r) => r.rss), seederSent, machineCpu }
  } finally {
    await nginx.stop()
  }
}

/** One short iperf3 run host 1 → seeder: what the shaped link carries (TCP goodput, bits/s). */
async function linkCheck(seeder, other) {
  if (!which('iperf3')) return undefined
  const server = daemon(...inNs(seeder.ns, 'iperf3', ['-s', '-1', '-B', seeder.address]))
  try {
    const listening = () =>
      spawnSync('ip', ['netns', 'exec', seeder.ns, 'ss', '-Hltn', 'sport', '=', ':5201'], {
        encoding: 'utf8',
      }).stdout.trim() !== ''
    await waitFor(listening, 5000, 'iperf3 listening')
    const r = await timed(...inNs(other.ns, 'iperf3', ['-c', seeder.address, '-t', '2', '-J']), {
      stdout: 'pipe',
      timeoutMs: 20_000,
    })
    return JSON.parse(r.stdout).end.sum_received.bits_per_second
  } catch (err) {
    console.log(`note: link check with iperf3 failed: ${err.message}`)
    return undefined
  } finally {
    await server.stop()
  }
}

async function main() {
  const why = netnsUnavailable()
  if (why) {
    console.log(`skipped: swarm: ${why}`)
    return
  }
  const noPerf = perf && machineProfileUnavailable()
  if (noPerf) {
    console.log(`skipped: swarm --perf: ${noPerf}`)
    return
  }
  const skipped = {}
  const methods = []
  for (const t of tools) {
    const missing = {
      p2pshare: undefined,
      'p2pshare-seed': undefined,
      'node-floor': undefined,
      'node-floor-sealed': undefined,
      'node-floor-checked': undefined,
      bittorrent: missingTools(BT_TOOLS),
      http: missingTools(HTTP_TOOLS),
    }[t]
    if (missing) {
      skipped[t] = missing
      console.log(`skipped: swarm ${t}: ${missing}`)
    } else methods.push(t)
  }
  mkdirSync(work, { recursive: true })
  root = await mkdtemp(join(work, 'run-'))
  const source = join(work, `swarm-sample-${size}.bin`)
  progress(`creating ${source}`)
  await sampleFile(source, size)
  const expected = await sha256(source)
  const maxN = Math.max(...counts)
  progress(`building ${maxN + 1} hosts, links ${rate}, ${delay}`)
  lan = BenchLan.create(root, maxN + 1, { rate, delay })
  if (!lan.delayApplied)
    console.log(`note: this kernel has no netem: links are shaped to ${rate} but the ${delay} delay is not applied`)
  const [seeder, ...others] = lan.hosts
  const linkBps = await linkCheck(seeder, others[0])
  // Each tool's seeder copy, prepared once: p2pshare's store split by the seeder, a hard link for nginx and aria2c.
  const share = join(root, 'seeder-files')
  mkdirSync(share)
  linkSync(source, join(share, NAME))
  const [splitCmd, splitArgv] = p2p(seeder, 'p2p-split', [join(share, NAME), '--json'])
  const fileId = JSON.parse((await timed(splitCmd, splitArgv, { stdout: 'pipe' })).stdout.trim().split('\n').pop()).id
  const http = { dir: join(root, 'http'), root: share }
  let bt
  if (methods.includes('bittorrent')) {
    mkdirSync(join(root, 'bt'))
    bt = {
      dir: join(root, 'bt'),
      seedDir: share,
      hook: doneHook(join(root, 'bt')),
      ...makeTorrent(join(share, NAME), `http://${seeder.address}:6969/announce`, join(root, 'bt', 'swarm.torrent')),
    }
  }
  const floor = methods.some((m) => m.startsWith('node-floor'))
    ? {
        source,
        size,
        chunk: FLOOR_CHUNK,
        hashesPath: await prepareNodeFloor(root, source, size, FLOOR_CHUNK),
        nodeFlags,
      }
    : undefined
  const shared = { together, verify, tx, freshDirs }
  const rounds = []
  for (const n of counts) {
    for (let round = 1; round <= repeats; round++) {
      await roundsOfN(n, round, round % 2 === 1 ? methods : [...methods].reverse())
    }
  }
  progress('done\n')
  console.log(swarmReport({ size, rate, delay, delayApplied: lan.delayApplied, linkBps, counts, rounds, skipped, by }))
  if (args.includes('--keep'))
    console.log(`kept: ${root} (each host's store, logs and downloads of the last round of each tool)`)

  /** Round `round` of every method in `order` with N = `n` downloaders. */
  async function roundsOfN(n, round, order) {
    for (const method of order) {
      const which = repeats > 1 ? ` (round ${round} of ${repeats})` : ''
      progress(`N = ${n}: ${method}${which}`)
      roundName = `N = ${n}, ${method}${which}`
      const downloaders = others.slice(0, n).map((h) => ({ ...h, dir: join(h.dir, method) })) // each tool its own files
      const run = {
        p2pshare: roundP2p,
        'p2pshare-seed': roundP2p,
        bittorrent: roundBitTorrent,
        http: roundHttp,
        'node-floor': roundNodeFloor,
        'node-floor-sealed': roundNodeFloor,
        'node-floor-checked': roundNodeFloor,
      }[method]
      const r = await run(
        seeder,
        downloaders,
        expected,
        roundTimeoutMs(n),
        {
          http,
          bittorrent: bt,
          p2pshare: { fileId, layout },
          'p2pshare-seed': { fileId, layout: 'seed' },
          'node-floor': floor,
          'node-floor-sealed': { ...floor, sealed: true },
          'node-floor-checked': { ...floor, sealed: true, checked: true },
        }[method],
        shared,
      )
      rounds.push({ n, method, round, ...r })
      progress(
        `N = ${n}: ${method}${which}: last done ${Math.max(...r.seconds).toFixed(2)} s, seeder sent ${(r.seederSent / size).toFixed(2)} × the file`,
      )
    }
  }
}

ownProcessGroups(cleanup)
main().catch((err) => {
  console.error(`\nswarm failed: ${err.message}`)
  stopDaemons()
  cleanup()
  process.exitCode = 1
})
