#!/usr/bin/env node
// node bench/memory.mjs [--size 1GiB --chunk-size 1MiB --runs 3 --seeders 1,2 --variant NAME=ROOT|NODE_FLAGS …]
// Issue 19: p2p-download's peak RSS (GNU time %M) and wall time, downloading
// one file from 1 and from 2 seeders on loopback (127.0.0.1, broadcast
// 127.255.255.255, free ports), each variant once per round, rounds
// alternating the variants so that a change of the machine's load falls on
// all of them. A variant is a build (ROOT, a directory with bin/ and dist/;
// this checkout when empty), flags for node and environment variables, e.g.
//   --variant 'base=/tmp/base' --variant 'semi2=|--max-semi-space-size=2' --variant 'quiet=||P2P_LOG_LEVEL=warn'
// Every download after a first, unmeasured one is by id (no name to
// decide) and is checked against the file's SHA-256. Kills only what it starts.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  BROADCAST,
  exitOnHelp,
  freeUdpPort,
  freshDir,
  markTopDir,
  median,
  optionReader,
  ownProcessGroups,
  parseSize,
  ROOT,
  removeOld,
  sampleFile,
  sha256,
  startSeed,
  storeFlags,
  timed,
} from './lib.mjs'

const args = process.argv.slice(2)
exitOnHelp(args, import.meta.url)
const opt = optionReader(args)
const size = parseSize(opt('size', '1GiB'))
const runs = Number(opt('runs', '3'))
// The seeders' split --chunk-size (theirs by default).
const splitFlags = opt('chunk-size', '') ? ['--chunk-size', opt('chunk-size', '')] : []
const seederCounts = opt('seeders', '1,2').split(',').map(Number)
const work = opt('dir', '/tmp/p2p-mem')
const variants = args
  .flatMap((a, i) => (a === '--variant' ? [args[i + 1]] : []))
  .map((text) => {
    const eq = text.indexOf('=')
    const [root, flags = '', env = ''] = text.slice(eq + 1).split('|')
    return {
      name: text.slice(0, eq),
      root: root || ROOT,
      flags: flags.split(' ').filter(Boolean),
      env: Object.fromEntries(
        env
          .split(' ')
          .filter(Boolean)
          .map((kv) => kv.split('=')),
      ),
    }
  })
if (variants.length === 0) variants.push({ name: 'this', root: ROOT, flags: [], env: {} })

ownProcessGroups()
markTopDir(work)
const file = join(work, 'sample.bin')
const name = 'sample.bin'
await sampleFile(file, size)
const expected = await sha256(file)

async function downloadOnce(variant, udpPort, extra) {
  const dir = freshDir(work, 'downloader') // fresh: a create where inodes were just freed is slow (lib.mjs)
  const r = await timed(
    process.execPath,
    [
      ...variant.flags,
      join(variant.root, 'bin', 'p2p-download'),
      name,
      ...['--udp-port', String(udpPort), '--broadcast', BROADCAST],
      ...['--downloads-dir', join(dir, 'downloads'), '--dictionary', join(dir, 'dictionary.json')],
      '--json',
      ...storeFlags(dir),
      ...extra,
    ],
    { env: variant.env },
  )
  const got = await sha256(join(dir, 'downloads', name))
  if (got !== expected) throw new Error(`${variant.name}: the download differs from the file`)
  const log = (await readFile(join(dir, 'logs', 'download.log'), 'utf8')).split('\n')
  const start = log
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => l.msg === 'download start')
  return { ...r, id: start?.id }
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(0)}`
const range = (values, f) => `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`
console.log(
  `${size / 2 ** 20} MiB${splitFlags.length ? ` in ${splitFlags[1]} chunks` : ''}, ${runs} rounds; peak RSS (GNU time %M), wall and CPU: median (min–max)`,
)
console.log('| seeders | variant | peak RSS MB | wall s | CPU s (user + sys) |\n|---|---|---|---|---|')
for (const count of seederCounts) {
  const udpPort = await freeUdpPort()
  const seeders = []
  for (let i = 0; i < count; i++) {
    const dir = freshDir(work, `seed-${i}`)
    seeders.push(await startSeed(dir, file, udpPort, splitFlags))
  }
  const { id } = await downloadOnce(variants[0], udpPort, []) // by name, once: warms up and learns the id
  const results = new Map(variants.map((v) => [v.name, []]))
  for (let round = 0; round < runs; round++)
    for (const v of variants) results.get(v.name).push(await downloadOnce(v, udpPort, ['--id', id]))
  for (const [vname, rs] of results)
    console.log(
      `| ${count} | ${vname} | ${range(
        rs.map((r) => r.rss),
        mb,
      )} | ${range(
        rs.map((r) => r.seconds),
        (s) => s.toFixed(2),
      )} | ${range(
        rs.map((r) => r.cpu),
        (s) => s.toFixed(2),
      )} |`,
    )
  for (const s of seeders) await Promise.all([s.serve.stop(), s.announce.stop()])
}
removeOld(work, 'downloader')
