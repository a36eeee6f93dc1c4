#!/usr/bin/env node
// The README's main job, on this machine only: two seeders and a downloader
// as separate processes, talking over loopback (broadcast 127.255.255.255,
// free ports). Seeder A is one `p2p share`; seeder B the three separate
// commands (p2p-split, p2p-serve, p2p-announce). Stops every process it
// started, by PID.
//   node scripts/demo.mjs [--size 64MiB]
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BROADCAST, firstJsonLine, freeUdpPort, parseSize, sampleFile, sha256 } from '../bench/lib.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const work = join(root, 'demo-run')
const sizeArg = process.argv.indexOf('--size')
const size = parseSize(sizeArg > 0 ? process.argv[sizeArg + 1] : '64MiB')
const started = []
// Colour only on a terminal, and never under NO_COLOR (no-color.org).
const color = process.stdout.isTTY && !process.env.NO_COLOR
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text)
const say = (line) => console.log(`${paint(36, 'demo:')} ${line}`)

function bin(name, args, dir, options = {}) {
  return [
    join(root, 'bin', name),
    ...args,
    '--chunks-dir',
    join(dir, 'chunks'),
    '--logs-dir',
    join(dir, 'logs'),
  ].concat(
    // The downloader's dictionary (and the known_peers.json beside it) stays in its directory, not in the clone.
    options.downloads ? ['--downloads-dir', join(dir, 'downloads'), '--dictionary', join(dir, 'dictionary.json')] : [],
  )
}

function startDaemon(name, args, cwd) {
  const child = spawn(process.execPath, bin(name, args, cwd), { stdio: ['ignore', 'pipe', 'inherit'] })
  started.push(child)
  return child
}

function stopAll() {
  for (const child of started) if (child.exitCode === null) child.kill('SIGTERM')
}

async function main() {
  rmSync(work, { recursive: true, force: true })
  const seeders = ['seeder-a', 'seeder-b'].map((n) => join(work, n))
  const downloader = join(work, 'downloader')
  for (const d of [...seeders, downloader]) mkdirSync(d, { recursive: true })

  const sample = join(work, 'sample.bin')
  await sampleFile(sample, size)
  const expected = await sha256(sample)
  say(`generated ${sample} (${(size / 1048576).toFixed(0)} MiB, sha256 ${expected.slice(0, 16)}…)`)

  const udpPort = await freeUdpPort()
  const discovery = ['--udp-port', String(udpPort), '--broadcast', BROADCAST]
  const [seederA, seederB] = seeders

  // Seeder A: one process splits, serves and announces.
  const share = startDaemon(
    'p2p',
    ['share', sample, '--host', '127.0.0.1', '--port', '0', '--interval', '2', '--json', ...discovery],
    seederA,
  )
  const shared = await firstJsonLine(share)
  say(
    `seeder-a: p2p share on 127.0.0.1:${shared.port} (pid ${share.pid}), id ${shared.files[0].id.slice(0, 16)}…, UDP ${udpPort} → ${BROADCAST}`,
  )

  // Seeder B: the same with the three separate commands.
  const r = spawnSync(process.execPath, bin('p2p-split', [sample], seederB), { stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error(`p2p-split failed with exit code ${r.status}`)
  const serve = startDaemon('p2p-serve', ['--host', '127.0.0.1', '--port', '0', '--json'], seederB)
  const { port } = await firstJsonLine(serve)
  startDaemon('p2p-announce', ['--port', String(port), '--interval', '2', ...discovery], seederB)
  say(`seeder-b: p2p-split, then p2p-serve on 127.0.0.1:${port} (pid ${serve.pid}) and p2p-announce on UDP ${udpPort}`)

  say('downloading in a third directory…')
  const download = spawn(
    process.execPath,
    bin('p2p-download', ['sample.bin', ...discovery], downloader, { downloads: true }),
    { stdio: 'inherit' },
  )
  started.push(download)
  const [code] = await once(download, 'exit')
  if (code !== 0) throw new Error(`p2p-download exited with ${code}`)
  const got = await sha256(join(downloader, 'downloads', 'sample.bin'))
  if (got !== expected) throw new Error(`SHA-256 mismatch: ${got} ≠ ${expected}`)
  say(`${paint(32, 'ok')}: downloads/sample.bin is identical to the source (sha256 ${got})`)
}

process.on('SIGINT', () => {
  stopAll()
  process.exit(130)
})
main().then(
  () => {
    stopAll()
    say(`done; files are in ${work}`)
  },
  (err) => {
    stopAll()
    console.error(`demo failed: ${err.message}`)
    process.exitCode = 1
  },
)
