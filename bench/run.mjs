#!/usr/bin/env node
// npm run bench [-- --size 1GiB --runs 3 --memory-sizes 256MiB,2GiB --small-chunks]
// Throughput and memory of every command against this machine's own limits
// (cp, openssl dgst -sha256, raw TCP between two Node processes), all
// measured in the same run on the same file. Loopback only (broadcast
// 127.255.255.255, free ports); kills only the processes it started.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { BIN, BROADCAST, ROOT, daemon, stopDaemons, freeUdpPort, median, parseSize, sampleFile, settleDeletes, sha256, timed } from './lib.mjs'

const args = process.argv.slice(2)
const opt = (name, fallback) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback }
const size = parseSize(opt('size', '1GiB'))
const runs = Number(opt('runs', '3'))
const memorySizes = opt('memory-sizes', '256MiB,2GiB').split(',').filter(Boolean).map(parseSize)
const work = opt('dir', '/tmp/p2p-bench')
const node = process.execPath
const MB = 1e6
const progress = (line) => process.stderr.write(`\x1b[2K\rbench: ${line}${process.stderr.isTTY ? '' : '\n'}`)
const common = (dir) => ['--chunks-dir', join(dir, 'chunks'), '--logs-dir', join(dir, 'logs')]

mkdirSync(work, { recursive: true })

/**
 * Seeders serving and announcing on loopback, each with a store it split
 * itself, as real seeders have: a copied store's verification records name
 * other inodes, so its server would hash every chunk before serving it.
 */
async function startSeeders(file, count, extraSplit = []) {
  const udpPort = await freeUdpPort()
  const seeders = []
  for (let i = 0; i < count; i++) {
    const dir = join(work, `seed-${i}`)
    rmSync(dir, { recursive: true, force: true })
    await timed(node, [BIN('p2p-split'), file, ...common(dir), ...extraSplit])
    const serve = daemon(node, [BIN('p2p-serve'), '--host', '127.0.0.1', '--port', '0', '--json', ...common(dir)])
    const { port } = await serve.firstLine()
    const announce = daemon(node, [BIN('p2p-announce'), '--port', String(port), '--udp-port', String(udpPort), '--broadcast', BROADCAST, '--interval', '1', '--json', ...common(dir)])
    seeders.push({ dir, port, serve, announce })
  }
  return {
    udpPort, seeders,
    async stop() {
      const rss = []
      for (const s of seeders) rss.push(await s.serve.stop(), await s.announce.stop())
      return Math.max(...rss.filter(Number.isFinite))
    },
  }
}

async function downloadOnce(file, name, udpPort, expected) {
  const dir = join(work, 'downloader')
  rmSync(dir, { recursive: true, force: true })
  const r = await timed(node, [BIN('p2p-download'), name, '--udp-port', String(udpPort), '--broadcast', BROADCAST, '--downloads-dir', join(dir, 'downloads'), '--json', ...common(dir)])
  const got = await sha256(join(dir, 'downloads', name))
  if (got !== expected) throw new Error(`download of ${name} is not identical: ${got} ≠ ${expected}`)
  return r
}

async function measureLimits(file) {
  const copy = join(work, 'copy.bin')
  const cp = await timed('cp', [file, copy])
  rmSync(copy, { force: true })
  const openssl = await timed('openssl', ['dgst', '-sha256', file])
  // What writing 1,024 chunk files costs on this machine, with no hashing at all: the floor under p2p-split.
  const pieces = join(work, 'coreutils-split')
  rmSync(pieces, { recursive: true, force: true })
  mkdirSync(pieces)
  await settleDeletes()
  const chunkFiles = await timed('split', ['-b', '1048576', '-a', '6', file, join(pieces, 'c')])
  rmSync(pieces, { recursive: true, force: true })
  const sender = daemon(node, [join(ROOT, 'bench', 'tcp-copy.mjs'), 'send', file])
  const { port } = await sender.firstLine()
  const tcp = await timed(node, [join(ROOT, 'bench', 'tcp-copy.mjs'), 'recv', String(port)])
  await sender.stop()
  return { cp: cp.seconds, openssl: openssl.seconds, tcp: tcp.seconds, chunkFiles: chunkFiles.seconds }
}

async function main() {
  const file = join(work, `sample-${size}.bin`)
  progress(`creating ${file}`)
  await sampleFile(file, size)
  const expected = await sha256(file)
  const name = `sample-${size}.bin`
  const samples = { cp: [], openssl: [], tcp: [], chunkFiles: [], split: [], pull: [], pullWall: [], download1: [], download2: [], rss1: [], rss2: [], serveRss: [] }
  for (let run = 1; run <= runs; run++) {
    progress(`run ${run}/${runs}: limits (cp, openssl, raw TCP, coreutils split)`)
    const limits = await measureLimits(file)
    samples.cp.push(limits.cp); samples.openssl.push(limits.openssl); samples.tcp.push(limits.tcp); samples.chunkFiles.push(limits.chunkFiles)
    progress(`run ${run}/${runs}: p2p-split`)
    rmSync(join(work, 'split-only'), { recursive: true, force: true })
    await settleDeletes()
    samples.split.push((await timed(node, [BIN('p2p-split'), file, ...common(join(work, 'split-only'))])).seconds)
    rmSync(join(work, 'split-only'), { recursive: true, force: true })
    progress(`run ${run}/${runs}: one seeder`)
    let swarm = await startSeeders(file, 1)
    const pull = await timed(node, [join(ROOT, 'bench', 'pull.mjs'), '--port', String(swarm.seeders[0].port), '--chunks-dir', join(swarm.seeders[0].dir, 'chunks')], { stdout: 'pipe' })
    samples.pull.push(JSON.parse(pull.stdout).seconds) // the transfer: connect → last chunk verified
    samples.pullWall.push(pull.seconds)
    const d1 = await downloadOnce(file, name, swarm.udpPort, expected)
    samples.download1.push(d1.seconds); samples.rss1.push(d1.rss)
    samples.serveRss.push(await swarm.stop())
    progress(`run ${run}/${runs}: two seeders`)
    swarm = await startSeeders(file, 2)
    const d2 = await downloadOnce(file, name, swarm.udpPort, expected)
    samples.download2.push(d2.seconds); samples.rss2.push(d2.rss)
    await swarm.stop()
  }
  const memory = []
  for (const s of memorySizes) {
    progress(`memory: ${s} bytes from one seeder`)
    const f = join(work, `mem-${s}.bin`)
    await sampleFile(f, s)
    const swarm = await startSeeders(f, 1)
    const d = await downloadOnce(f, `mem-${s}.bin`, swarm.udpPort, await sha256(f))
    memory.push({ size: s, downloadRss: d.rss, seconds: d.seconds, seederRss: await swarm.stop() })
    rmSync(f, { force: true })
  }
  let smallChunks
  if (args.includes('--small-chunks')) {
    const s = 10_000 * 65_536
    progress('10,000 chunks of 64 KiB from one seeder')
    const f = join(work, 'small-chunks.bin')
    await sampleFile(f, s)
    const swarm = await startSeeders(f, 1, ['--chunk-size', '64KiB'])
    const d = await downloadOnce(f, 'small-chunks.bin', swarm.udpPort, await sha256(f))
    await swarm.stop()
    rmSync(f, { force: true })
    smallChunks = { size: s, seconds: d.seconds, rate: s / d.seconds / MB }
  }
  progress('done\n')
  report({ samples, memory, smallChunks })
}

function report({ samples, memory, smallChunks }) {
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]))
  const range = (k) => `${Math.min(...samples[k]).toFixed(2)}–${Math.max(...samples[k]).toFixed(2)}`
  const rate = (s) => (size / s / MB).toFixed(0)
  const rows = [
    ['cp (limit)', 'cp'], ['openssl dgst -sha256 (limit)', 'openssl'], ['raw TCP, 2 Node processes (limit)', 'tcp'],
    ['coreutils split -b 1MiB: the chunk files written, no hashing (limit)', 'chunkFiles'],
    ['p2p-split', 'split'], ['pull all chunks, 1 connection, 16 requests in flight, each chunk verified (transfer)', 'pull'],
    ['  the same pull, process wall (start-up and store scan included)', 'pullWall'],
    ['p2p-download, 1 seeder (wall)', 'download1'], ['p2p-download, 2 seeders (wall)', 'download2'],
  ].map(([label, k]) => `| ${label} | ${m[k].toFixed(2)} s (${range(k)}) | ${rate(m[k])} | ${(m[k] / m.openssl).toFixed(2)} × | ${(m[k] / m.cp).toFixed(2)} × |`)
  const mb = (b) => `${(b / MB).toFixed(0)} MB`
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; file ${(size / 2 ** 20).toFixed(0)} MiB of random bytes in page cache, ${runs} runs, median (min–max).`,
    '',
    '| what | time | MB/s | time ÷ openssl | time ÷ cp |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Peak RSS: p2p-download ${mb(median(samples.rss1))} (1 seeder), ${mb(median(samples.rss2))} (2 seeders); p2p-serve/p2p-announce at most ${mb(median(samples.serveRss))}.`,
    ...(memory.length ? ['', '| file | p2p-download peak RSS | seeder peak RSS | time |', '|---|---|---|---|',
      ...memory.map((r) => `| ${(r.size / 2 ** 20).toFixed(0)} MiB | ${mb(r.downloadRss)} | ${mb(r.seederRss)} | ${r.seconds.toFixed(2)} s |`)] : []),
    ...(smallChunks ? ['', `10,000 chunks of 64 KiB (${(smallChunks.size / 2 ** 20).toFixed(0)} MiB), 1 seeder: ${smallChunks.seconds.toFixed(2)} s, ${smallChunks.rate.toFixed(0)} MB/s = ${(smallChunks.rate / (size / m.download1 / MB)).toFixed(2)} × the 1 MiB-chunk rate.`] : []),
  ]
  const markdown = lines.join('\n')
  console.log(markdown)
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify({ date: new Date().toISOString(), size, runs, samples, medians: m, memory, smallChunks }, null, 2)}\n`)
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.md'), `${markdown}\n`)
}

process.on('SIGINT', () => { stopDaemons(); process.exit(130) })
main().catch((err) => {
  console.error(`\nbench failed: ${err.message}`)
  stopDaemons()
  process.exitCode = 1
})
