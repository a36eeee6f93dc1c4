#!/usr/bin/env node
// npm run bench [-- --size 1GiB --runs 3 --memory-sizes 256MiB,2GiB --small-chunks --folder-files 10000 --no-folder --swarm --swarm-size 256MiB …]
// Throughput and memory of every command against this machine's own limits
// (cp, openssl dgst -sha256, raw TCP between two Node processes, coreutils
// split) and against the tools users would pick instead (curl ← nginx,
// aria2c BitTorrent), all measured in the same run on the same file, and
// one seeder's two floors (bench/loopback-floor.mjs).
// Loopback only (broadcast 127.255.255.255, 127.0.0.1 and .2, free ports); kills
// only the processes it started. `--swarm` runs bench/swarm.mjs afterwards
// with every `--swarm-<option>` passed on as `--<option>`. The folder case (bench/folder.mjs: 10,000 files
// of 1-64 KiB against one file of the same size) runs unless `--no-folder`.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { linkSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { aria2Args, BT_TOOLS, HTTP_TOOLS, makeTorrent, missingTools, startNginx, startTracker } from './anchors.mjs'
import { folderBench, folderMarkdown } from './folder.mjs'
import {
  BIN,
  daemon,
  downloadArgs,
  exitOnHelp,
  freeTcpPort,
  freeUdpPort,
  freshDir,
  markTopDir,
  optionReader,
  ownProcessGroups,
  parseSize,
  ROOT,
  sampleFile,
  settleDeletes,
  sha256,
  startSeed,
  startToManifest,
  stopDaemons,
  storeFlags,
  timed,
} from './lib.mjs'
import { loopbackFloor } from './loopback-floor.mjs'
import { loopbackReport } from './loopback-report.mjs'
import { saveSection } from './results.mjs'

const args = process.argv.slice(2)
exitOnHelp(args, import.meta.url)
const opt = optionReader(args)
const size = parseSize(opt('size', '1GiB'))
const runs = Number(opt('runs', '3'))
const memorySizes = opt('memory-sizes', '256MiB,2GiB').split(',').filter(Boolean).map(parseSize)
const work = opt('dir', '/tmp/p2p-bench')
const node = process.execPath
const progress = (line) => process.stderr.write(`\x1b[2K\rbench: ${line}${process.stderr.isTTY ? '' : '\n'}`)
const LOCAL = '127.0.0.1'
const PLAIN = ['--transport', 'plain']

markTopDir(work) // each step's directories are fresh ones (freshDir)

/**
 * Seeders serving and announcing on loopback, each with a store it split
 * itself, as real seeders have: a copied store's verification records name
 * other inodes, so its server would hash every chunk before serving it.
 */
async function startSeeders(file, count, extraSplit = [], extraPeer = []) {
  const udpPort = await freeUdpPort()
  const seeders = []
  for (let i = 0; i < count; i++) {
    const dir = freshDir(work, `seed-${i}`)
    seeders.push(await startSeed(dir, file, udpPort, extraSplit, extraPeer))
  }
  return {
    udpPort,
    seeders,
    /** CPU-seconds the seeders' processes have used so far. */
    cpu: () => seeders.reduce((sum, s) => sum + s.serve.cpuSeconds() + s.announce.cpuSeconds(), 0),
    async stop() {
      const rss = []
      for (const s of seeders) rss.push(await s.serve.stop(), await s.announce.stop())
      return Math.max(...rss.filter(Number.isFinite))
    },
  }
}

async function checked(path, expected, what) {
  const got = await sha256(path)
  if (got !== expected) throw new Error(`${what}: ${path} is not identical: ${got} ≠ ${expected}`)
}

async function downloadOnce(name, udpPort, expected, extraPeer = []) {
  const dir = freshDir(work, 'downloader')
  const r = await timed(node, [...downloadArgs(dir, name, udpPort), ...extraPeer])
  await checked(join(dir, 'downloads', name), expected, 'p2p-download')
  return { ...r, ...startToManifest(join(dir, 'logs', 'download.log')) }
}

async function measureLimits(file) {
  const copy = join(work, 'copy.bin')
  // This VM's memory has two prices (docs/benchmarks.md, forty-first session): pages freed
  // seconds ago are reused at no cost; pages freed longer ago went back to the host, and the
  // first write into them pays for it again (cp 1.0-3.6 s a GiB against 0.3 s). `cp`, the
  // targets' baseline, is taken after a pause, into the latter, so that it is always that
  // price, not whichever the steps before it left; the two other copies show the reused
  // pages' price and the disk's own, for a copy that writes past the page cache as
  // p2p-download does (O_DIRECT).
  await settleDeletes()
  const cp = await timed('cp', [file, copy])
  rmSync(copy, { force: true })
  const cpReused = await timed('cp', [file, copy])
  rmSync(copy, { force: true })
  const directCopy = await timed('dd', [`if=${file}`, `of=${copy}`, 'bs=1M', 'oflag=direct', 'status=none']).catch(
    () => undefined, // a filesystem without O_DIRECT (tmpfs): the row is left out
  )
  rmSync(copy, { force: true })
  const openssl = await timed('openssl', ['dgst', '-sha256', file])
  // What writing the chunk files costs on this machine, with no hashing at all: p2p-split's second floor.
  const pieces = freshDir(work, 'coreutils-split')
  mkdirSync(pieces)
  await settleDeletes()
  const chunkFiles = await timed('split', ['-b', '1048576', '-a', '6', file, join(pieces, 'c')])
  rmSync(pieces, { recursive: true, force: true })
  const sender = daemon(node, [join(ROOT, 'bench', 'tcp-copy.mjs'), 'send', file])
  const sent = once(sender.child, 'close')
  const { port } = await sender.firstLine()
  const received = await timed(node, [join(ROOT, 'bench', 'tcp-copy.mjs'), 'recv', String(port)], { stdout: 'pipe' })
  await sent // it prints its CPU-seconds as the connection closes
  const got = JSON.parse(received.stdout)
  if (got.bytes !== size) throw new Error(`raw TCP: ${got.bytes} bytes received of ${size}`)
  const tcpCpu = got.cpu + sender.lastLine()?.cpu // both ends, connection start to end (no start-up)
  if (!Number.isFinite(tcpCpu)) throw new Error('raw TCP: a process did not report its CPU')
  const tcp = { ...received, cpu: tcpCpu }
  // The cipher alone, sealing and opening the file's size with the transport's record code: the floor below.
  const floor = await timed(node, [join(ROOT, 'bench', 'transport', 'cipher-floor.mjs'), String(size)], {
    stdout: 'pipe',
  })
  return {
    cp,
    cpReused,
    openssl,
    tcp,
    chunkFiles,
    ...(directCopy ? { directCopy } : {}),
    cipher: { seconds: JSON.parse(floor.stdout), rss: floor.rss },
  }
}

/** nginx (sendfile) serving the sample's directory on 127.0.0.1, for curl. */
async function httpAnchor(file) {
  const nginx = await startNginx({ dir: join(work, 'nginx'), root: work, address: LOCAL, port: await freeTcpPort() })
  const name = file.slice(work.length + 1)
  return {
    stop: () => nginx.stop(),
    async once(expected) {
      const out = join(work, 'curl-out.bin')
      rmSync(out, { force: true })
      const r = await timed('curl', ['-s', '-f', '-o', out, nginx.url(name)])
      await checked(out, expected, 'curl ← nginx')
      rmSync(out, { force: true })
      return r
    },
  }
}

/**
 * aria2c BitTorrent on 127.0.0.1: a torrent of the sample (1 MiB pieces),
 * then per measurement a fresh opentracker (no stale peers from the last
 * one), `count` seeders that hash-check their copy (a hard link) before they
 * announce, and one leecher that exits when its download is complete.
 */
async function bitTorrentAnchor(file) {
  const dir = join(work, 'bt')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const trackerPort = await freeTcpPort()
  const { torrent, infoHash } = makeTorrent(
    file,
    `http://${LOCAL}:${trackerPort}/announce`,
    join(dir, 'sample.torrent'),
  )
  const name = file.slice(work.length + 1)
  return {
    async once(count, expected) {
      const tracker = await startTracker({ dir: join(dir, 'tracker'), address: LOCAL, port: trackerPort, infoHash })
      const seeders = []
      try {
        for (let i = 0; i < count; i++) {
          const seedDir = join(dir, `seed-${i}`)
          mkdirSync(seedDir, { recursive: true })
          try {
            linkSync(file, join(seedDir, name))
          } catch (err) {
            if (err.code !== 'EEXIST') throw err
          }
          seeders.push(
            daemon(
              'aria2c',
              aria2Args({ torrent, dir: seedDir, port: await freeTcpPort(), address: LOCAL, seed: true }),
            ),
          )
        }
        await tracker.untilSeeders(count, 300_000)
        const out = join(dir, 'leecher')
        rmSync(out, { recursive: true, force: true })
        const r = await timed('aria2c', aria2Args({ torrent, dir: out, port: await freeTcpPort(), address: LOCAL }), {
          stdout: 'pipe',
        })
        await checked(join(out, name), expected, 'aria2c')
        rmSync(out, { recursive: true, force: true })
        return r
      } finally {
        for (const s of seeders) await s.stop()
        await tracker.stop()
      }
    },
  }
}

async function main() {
  const file = join(work, `sample-${size}.bin`)
  progress(`creating ${file}`)
  await sampleFile(file, size)
  const expected = await sha256(file)
  const name = `sample-${size}.bin`
  const skipped = {}
  const httpSkip = missingTools(HTTP_TOOLS)
  const btSkip = missingTools(BT_TOOLS)
  if (httpSkip) skipped['curl ← nginx'] = httpSkip
  if (btSkip) skipped['aria2c BitTorrent'] = btSkip
  for (const [what, why] of Object.entries(skipped)) console.log(`skipped: ${what}: ${why}`)
  const http = httpSkip ? undefined : await httpAnchor(file)
  const bt = btSkip ? undefined : await bitTorrentAnchor(file)
  const keys = [
    'cp',
    'cpReused',
    'directCopy',
    'openssl',
    'tcp',
    'chunkFiles',
    'split',
    'pull',
    'pullWall',
    'curl',
    'download1',
    'floor1',
    'download2',
    'download2id',
    'download2plain',
    'aria1',
    'aria2',
    'serve',
  ]
  const samples = Object.fromEntries(keys.map((k) => [k, []]))
  const rss = Object.fromEntries(keys.map((k) => [k, []]))
  const firstByte = { name: [], encrypted: [], plain: [] }
  const cpu = { encrypted: [], plain: [] } // the downloader's and the seeders' CPU-seconds
  const cipher = []
  const floorWork = { cipher, openssl: [], tcp: [], floor: [] } // CPU-seconds a run (loopback-floor.mjs)
  const nodeFloor = await loopbackFloor(work, file, size, expected)
  const add = (key, r) => {
    samples[key].push(r.seconds)
    rss[key].push(r.rss)
  }
  for (let run = 1; run <= runs; run++) {
    progress(`run ${run}/${runs}: limits (cp, openssl, raw TCP, coreutils split)`)
    const { cipher: c, ...limits } = await measureLimits(file)
    for (const [key, r] of Object.entries(limits)) add(key, r)
    cipher.push(c.seconds.sealCpu + c.seconds.openCpu)
    floorWork.openssl.push(limits.openssl.user)
    floorWork.tcp.push(limits.tcp.cpu)
    progress(`run ${run}/${runs}: p2p-split`)
    const splitDir = freshDir(work, 'split-only')
    await settleDeletes()
    add('split', await timed(node, [BIN('p2p-split'), file, ...storeFlags(splitDir)]))
    rmSync(splitDir, { recursive: true, force: true })
    if (http) {
      progress(`run ${run}/${runs}: curl ← nginx`)
      add('curl', await http.once(expected))
    }
    progress(`run ${run}/${runs}: one seeder`)
    let swarm = await startSeeders(file, 1)
    const pull = await timed(
      node,
      [
        join(ROOT, 'bench', 'pull.mjs'),
        '--port',
        String(swarm.seeders[0].port),
        '--chunks-dir',
        join(swarm.seeders[0].dir, 'chunks'),
      ],
      { stdout: 'pipe' },
    )
    add('pull', { seconds: JSON.parse(pull.stdout).seconds, rss: pull.rss }) // the transfer: connect → last chunk verified
    add('pullWall', pull)
    add('download1', await downloadOnce(name, swarm.udpPort, expected))
    rss.serve.push(await swarm.stop())
    progress(`run ${run}/${runs}: the Node floor, one seeder`)
    const floor = await nodeFloor.once()
    add('floor1', floor)
    floorWork.floor.push(floor.cpu)
    progress(`run ${run}/${runs}: two seeders`)
    swarm = await startSeeders(file, 2)
    const byName = await downloadOnce(name, swarm.udpPort, expected)
    add('download2', byName)
    firstByte.name.push(byName.firstByteMs)
    // Issue 16: the encrypted default beside today's plain protocol, same file, same run, both by id (a
    // download by name ends no sooner than 1.2 s after the name's first answer, which would dilute the ratio).
    progress(`run ${run}/${runs}: two seeders, by id`)
    let seedersBefore = swarm.cpu()
    const encrypted = await downloadOnce(name, swarm.udpPort, expected, ['--id', byName.id])
    add('download2id', encrypted)
    firstByte.encrypted.push(encrypted.firstByteMs)
    cpu.encrypted.push(encrypted.cpu + swarm.cpu() - seedersBefore)
    await swarm.stop()
    progress(`run ${run}/${runs}: two seeders, by id, --transport plain`)
    swarm = await startSeeders(file, 2, [], PLAIN)
    seedersBefore = swarm.cpu()
    const plain = await downloadOnce(name, swarm.udpPort, expected, ['--id', byName.id, ...PLAIN])
    add('download2plain', plain)
    firstByte.plain.push(plain.firstByteMs)
    cpu.plain.push(plain.cpu + swarm.cpu() - seedersBefore)
    await swarm.stop()
    if (bt) {
      progress(`run ${run}/${runs}: aria2c BitTorrent, one seeder`)
      add('aria1', await bt.once(1, expected))
      progress(`run ${run}/${runs}: aria2c BitTorrent, two seeders`)
      add('aria2', await bt.once(2, expected))
    }
  }
  await http?.stop()
  const memory = []
  for (const s of memorySizes) {
    progress(`memory: ${s} bytes from one seeder`)
    const f = join(work, `mem-${s}.bin`)
    await sampleFile(f, s)
    const swarm = await startSeeders(f, 1)
    const d = await downloadOnce(`mem-${s}.bin`, swarm.udpPort, await sha256(f))
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
    const d = await downloadOnce('small-chunks.bin', swarm.udpPort, await sha256(f))
    await swarm.stop()
    rmSync(f, { force: true })
    smallChunks = { size: s, seconds: d.seconds, rate: s / d.seconds / 1e6 }
  }
  // Small files must not be slow (issue 18): a folder of 10,000 files of 1-64 KiB against one file of its size.
  const folder = args.includes('--no-folder')
    ? undefined
    : await folderBench({ work, files: Number(opt('folder-files', '10000')), runs: Math.min(runs, 3), progress })
  progress('done\n')
  console.log(
    loopbackReport({
      ...{ size, runs, samples, rss, memory, smallChunks, skipped, floorWork },
      encryption: { firstByte, cpu, cipher },
    }),
  )
  if (folder) {
    const markdown = folderMarkdown(folder)
    saveSection('folder', folder, markdown)
    console.log(`\n${markdown}`)
  }
}

/** bench/swarm.mjs with the `--swarm-*` options, as a child (it needs root; it says so and skips otherwise). */
async function swarm() {
  const passed = []
  for (let i = 0; i < args.length; i++)
    if (args[i].startsWith('--swarm-')) passed.push(`--${args[i].slice(8)}`, args[++i])
  const child = spawn(node, [join(ROOT, 'bench', 'swarm.mjs'), ...passed], { stdio: 'inherit' })
  const [code] = await once(child, 'exit')
  if (code !== 0) process.exitCode = code ?? 1
}

ownProcessGroups()
main()
  .then(() => (args.includes('--swarm') ? swarm() : undefined))
  .catch((err) => {
    console.error(`\nbench failed: ${err.message}`)
    stopDaemons()
    process.exitCode = 1
  })
