#!/usr/bin/env node
// npm run bench:sites [-- --size 256MiB --rate 100mbit --delay 20 --loss 0 --runs 3 --keep]
// Issue 20's speed: two sites behind NATs (test/netns/two-sites.ts), site A's
// router reaching the public segment over a cable that holds every frame
// `--delay` ms each way (test/netns/wire.ts: vde2's wirefilter, since this
// kernel has no netem), both routers' public links shaped to `--rate`, a
// private DHT of three `p2p dht-node`s on the public segment (the only
// bootstrap given). The file is seeded only at a1 and downloaded at b1. In
// the same run, alternating, `--runs` times each:
//   - iperf3 (the baseline): the same bytes a1 → b1 over one TCP flow, through
//     a port forward on A's router: the same hosts, NATs, cable and shaping;
//   - p2p-download --dht: found by id through the DHT, hole-punched, encrypted;
//   - p2p-download --peer: the same download over TCP through the port
//     forward (what the DHT path would be without it).
// Reports first byte (start → manifest), the transfer's rate (manifest →
// exit) and the whole download's, medians, and the ratios to iperf3. Every
// output's SHA-256 is checked. Root only; every process is stopped and every
// namespace deleted, also on Ctrl-C and on error.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import {
  exitOnHelp,
  machineCpuSeconds,
  median,
  optionReader,
  parseSize,
  sampleFile,
  sha256,
  startToManifest,
  which,
} from './lib.mjs'
import { netnsUnavailable } from './netns.mjs'
import { machine, mib, saveSection } from './results.mjs'

exitOnHelp(process.argv.slice(2), import.meta.url)
// The build is loaded only after --help is answered (it may not be built yet).
const { Topology } = await import('../dist/test/netns/topology.js')
const { DHT_NODES, portForward, shapeLink, twoSites, twoSitesTopology } = await import(
  '../dist/test/netns/two-sites.js'
)
const { wireAvailable } = await import('../dist/test/netns/wire.js')
const opt = optionReader(process.argv.slice(2))
const size = parseSize(opt('size', '256MiB'))
const rate = opt('rate', '100mbit')
const delayMs = Number(opt('delay', '20'))
const lossPercent = Number(opt('loss', '0'))
const runs = Number(opt('runs', '3'))
const work = opt('dir', '/tmp/p2p-bench-sites')
const IPERF_PORT = 5201
const SERVE_PORT = 47010 // a1's p2p-serve (the default port, which its announcements carry), forwarded on A's router for the TCP run
const DISCOVERY_PORT = 47011 // a1's p2p-announce answers b1's unicast query (--peer) through the same forward
const CORES = cpus().length
const progress = (line) => process.stderr.write(`sites: ${line}\n`)

const missing = netnsUnavailable() ?? wireAvailable() ?? (which('iperf3') ? undefined : 'iperf3 not installed')
if (missing) {
  progress(`skipped: ${missing} (bench/setup.sh installs what is missing)`)
  process.exit(0)
}

rmSync(work, { recursive: true, force: true })
const root = mkdtempSync(`${work}-`)
let net
const cleanup = async () => {
  await net?.destroy()
  if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    progress(`${signal}: stopping`)
    void cleanup().finally(() => process.exit(130))
  })

/** The first line a process prints, parsed (its `--json` start line). */
async function firstLine(proc, what) {
  for (let waited = 0; !proc.stdout().includes('\n'); waited += 50) {
    if (proc.child.exitCode !== null || waited > 60_000) throw new Error(`${what} printed nothing: ${proc.stderr()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return JSON.parse(proc.stdout().split('\n')[0])
}

/** One p2p-download at b1 (fresh store; no known peers, so each run takes only the path it is given), checked byte for byte. */
async function p2pRun(b1, id, expected, how) {
  for (const d of ['chunks', 'downloads', 'logs']) rmSync(join(b1.dir, d), { recursive: true, force: true })
  const args = ['--id', id, '--json', '--downloads-dir', join(b1.dir, 'downloads'), '--no-known-peers', ...how]
  const cpu0 = machineCpuSeconds()
  const started = Date.now()
  const proc = b1.start('p2p-download', args)
  const code = await proc.exited
  const end = Date.now()
  const machineCpu = machineCpuSeconds() - cpu0
  if (code !== 0) throw new Error(`p2p-download exited ${code}: ${proc.stderr()}`)
  const receipt = JSON.parse(proc.stdout().trim().split('\n').pop())
  const got = await sha256(join(b1.dir, 'downloads', receipt.name))
  if (got !== expected) throw new Error(`download differs from the source: ${got} ≠ ${expected}`)
  const { firstByteMs, manifestAt } = startToManifest(join(b1.dir, 'logs', 'download.log'))
  const transfer = (end - manifestAt) / 1000
  const paths = receipt.peers.map((p) => p.path ?? p.via)
  if (how.includes('--dht') && paths.some((p) => p !== 'holepunched'))
    throw new Error(`the --dht run took another path: ${paths.join(', ')}`)
  // The share of the cores busy over the download, whoever used them (the cable's processes too).
  const busy = machineCpu / (CORES * ((end - started) / 1000))
  return {
    firstByteMs,
    transferRate: size / transfer,
    wholeRate: size / receipt.seconds,
    seconds: receipt.seconds,
    paths,
    busy,
  }
}

/** iperf3 a1 → b1 (reverse mode: b1 connects through A's port forward, a1 sends `size` bytes). */
async function iperfRun(a1, b1, target) {
  const server = spawn('ip', ['netns', 'exec', a1.ns, 'iperf3', '-s', '-1', '-p', String(IPERF_PORT)], {
    stdio: 'ignore',
  })
  try {
    await new Promise((r) => setTimeout(r, 300))
    const out = b1.exec('iperf3', '-c', target, '-p', String(IPERF_PORT), '-R', '-n', String(size), '-J')
    const end = JSON.parse(out).end
    return { rate: end.sum_received.bytes / end.sum_received.seconds, retransmits: end.sum_sent.retransmits }
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGKILL')
      await once(server, 'exit')
    }
  }
}

/**
 * Round-trip time b1 → a1 through the cable, ms: a TCP connect to the
 * forwarded port while nothing listens there (a1 answers with a reset); the
 * least of 3, the first also resolving addresses.
 */
function connectRtt(b1, target) {
  const code = `const s=require('net').connect(${IPERF_PORT},'${target}');const t=process.hrtime.bigint();s.setTimeout(5000,()=>s.destroy(new Error('timeout')));s.on('error',(e)=>{console.log(e.code==='ECONNREFUSED'?Number(process.hrtime.bigint()-t)/1e6:NaN)})`
  return Math.min(...[1, 2, 3].map(() => Number(b1.exec(process.execPath, '-e', code).trim())))
}

async function main() {
  progress(`${mib(size)}, cable ${delayMs} ms each way, routers' public links ${rate}, ${runs} runs each`)
  net = await Topology.create(root, twoSitesTopology(84, { delayMs, lossPercent }))
  const { ra, rb } = twoSites(net)
  const [a1, b1] = [net.host('a1'), net.host('b1')]
  const raPublic = ra.on('pub').ipv4
  portForward(ra, 'pub', IPERF_PORT, a1.on('a').ipv4)
  portForward(ra, 'pub', SERVE_PORT, a1.on('a').ipv4)
  portForward(ra, 'pub', DISCOVERY_PORT, a1.on('a').ipv4, 'udp')
  shapeLink(ra, 'pub', rate)
  shapeLink(rb, 'pub', rate)
  const rttMs = connectRtt(b1, raPublic) // refused by A's router itself: one round trip through the cable

  let bootstrap = ''
  for (const name of DHT_NODES) {
    const d = net.host(name)
    const args = ['dht-node', '--host', d.on('pub').ipv4, '--port', '0', '--json']
    const node = d.start('p2p', bootstrap ? [...args, '--bootstrap', bootstrap.split(',')[0]] : args)
    const { bootstrap: address } = await firstLine(node, 'p2p dht-node')
    bootstrap = bootstrap ? `${bootstrap},${address}` : address
  }
  const source = join(root, 'sample.bin')
  await sampleFile(source, size)
  const expected = await sha256(source)
  const split = a1.start('p2p-split', [source, '--json'])
  if ((await split.exited) !== 0) throw new Error(`p2p-split: ${split.stderr()}`)
  const { id } = JSON.parse(split.stdout().trim().split('\n').pop())
  const seeder = a1.start('p2p-serve', ['--json', '--dht', '--bootstrap', bootstrap])
  const { dhtTopics } = await firstLine(seeder, 'p2p-serve')
  const announcer = a1.start('p2p-announce', ['--json'])
  await firstLine(announcer, 'p2p-announce')
  progress(`seeder up (${dhtTopics} DHT topic), connect RTT through the cable ${rttMs.toFixed(1)} ms`)

  const results = { iperf: [], dht: [], tcp: [] }
  for (let run = 1; run <= runs; run++) {
    const cpu0 = machineCpuSeconds()
    const t0 = Date.now()
    const iperf = { ...(await iperfRun(a1, b1, raPublic)) }
    iperf.busy = (machineCpuSeconds() - cpu0) / (CORES * ((Date.now() - t0) / 1000))
    results.iperf.push(iperf)
    progress(
      `run ${run}: iperf3 ${(iperf.rate / 1e6).toFixed(1)} MB/s (${iperf.retransmits} retransmits), cores ${(100 * iperf.busy).toFixed(0)} % busy`,
    )
    const dht = await p2pRun(b1, id, expected, ['--dht', '--bootstrap', bootstrap])
    results.dht.push(dht)
    progress(
      `run ${run}: --dht first byte ${dht.firstByteMs} ms, transfer ${(dht.transferRate / 1e6).toFixed(1)} MB/s, whole ${dht.seconds.toFixed(2)} s, via ${dht.paths.join(' ')}, cores ${(100 * dht.busy).toFixed(0)} % busy`,
    )
    const tcp = await p2pRun(b1, id, expected, ['--peer', `${raPublic}:${DISCOVERY_PORT}`])
    results.tcp.push(tcp)
    progress(
      `run ${run}: --peer (TCP) first byte ${tcp.firstByteMs} ms, transfer ${(tcp.transferRate / 1e6).toFixed(1)} MB/s, cores ${(100 * tcp.busy).toFixed(0)} % busy`,
    )
  }
  await announcer.stop()
  await seeder.stop()
  report({ rttMs, results })
}

function report({ rttMs, results }) {
  const m = (list, key) => median(list.map((r) => r[key]))
  const base = m(results.iperf, 'rate')
  const pct = (list) => `${(100 * m(list, 'busy')).toFixed(0)} %`
  const row = (label, list) =>
    `| ${label} | ${m(list, 'firstByteMs').toFixed(0)} ms | ${(m(list, 'transferRate') / 1e6).toFixed(1)} MB/s | **${(m(list, 'transferRate') / base).toFixed(2)} ×** | ${(m(list, 'wholeRate') / 1e6).toFixed(1)} MB/s (${(m(list, 'wholeRate') / base).toFixed(2)} ×) | ${pct(list)} |`
  const markdown = [
    `${machine()}. ${mib(size)} from a1 (site A) to b1 (site B), each behind its NAT; A's router on a cable of ${delayMs} ms each way${lossPercent ? `, ${lossPercent} % of frames lost` : ''} (connect RTT ${rttMs.toFixed(1)} ms), both routers' public links at ${rate}; medians of ${runs}, alternating. Cores busy: the machine's, whoever used them (the cable's own processes too).`,
    '',
    `| path | first byte | transfer (manifest → done) | ÷ iperf3 (target ≥ 0.8) | whole download | cores busy |`,
    '|---|---|---|---|---|---|',
    `| iperf3, one TCP flow through A's port forward (baseline) | – | ${(base / 1e6).toFixed(1)} MB/s | 1.00 × | – | ${pct(results.iperf)} |`,
    row('p2p-download --dht (found through the DHT, hole-punched)', results.dht),
    row("p2p-download --peer (TCP through A's port forward)", results.tcp),
  ].join('\n')
  process.stdout.write(`${markdown}\n`)
  saveSection('sites', { size, rate, delayMs, lossPercent, rttMs, runs, results }, markdown)
}

main()
  .then(cleanup)
  .catch(async (err) => {
    progress(`failed: ${err.message}`)
    await cleanup()
    process.exit(1)
  })
