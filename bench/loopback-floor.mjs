// The loopback run's floors for one seeder, both measured in the run:
// - the thinnest Node pair (bench/floor-peer.mjs): a seeder and one
//   downloader on loopback, every byte sealed as p2pshare's transport seals
//   it, every chunk and the whole file checked, written past the page cache
//   as it arrives (several writes at once on libuv's pool) and synced, as
//   p2p-download writes; nothing else of p2pshare;
// - the work no download from one seeder can skip, as CPU-seconds spread
//   over the cores: sealing and opening every byte (cipher-floor.mjs), two
//   SHA-256 passes (openssl's user time, twice), moving the bytes through
//   TCP (both raw-TCP processes from the connection's start to its end: the
//   file's read, the socket copies; their start-up left out).
import { once } from 'node:events'
import { mkdirSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { daemon, freshDir, median, ROOT, sha256, timed } from './lib.mjs'
import { prepareNodeFloor } from './swarm-floor.mjs'

const PEER = join(ROOT, 'bench', 'floor-peer.mjs')
const CHUNK = 1024 * 1024
const SEEDER = '127.0.0.1'
/** The downloader's listener (floor-peer listens for other downloaders; there are none here). */
const DOWNLOADER = '127.0.0.2'

/** A floor pair for `file` (`size` bytes, SHA-256 `expected`); `once()` times one transfer. */
export async function loopbackFloor(work, file, size, expected) {
  const hashes = await prepareNodeFloor(work, file, size, CHUNK)
  return {
    /** One transfer: the downloader's wall and peak RSS, and both processes' CPU-seconds. */
    async once() {
      const dir = freshDir(work, 'node-floor') // not 'floor': that would remove floor-hashes.json
      mkdirSync(dir)
      const common = { size, chunk: CHUNK, peers: [DOWNLOADER], seeder: SEEDER, sealed: true }
      const seeder = daemon(process.execPath, [
        PEER,
        JSON.stringify({ ...common, port: 0, role: 'seeder', file, exit: true }),
      ])
      const seederDone = once(seeder.child, 'close')
      try {
        const { listening: port } = await seeder.firstLine()
        const out = join(dir, 'out')
        const peer = { ...common, port, role: 'peer', me: 0, file: out, done: join(dir, 'done'), hashes }
        const r = await timed(
          process.execPath,
          [PEER, JSON.stringify({ ...peer, whole: expected, direct: true, exit: true })],
          { timeoutMs: 300_000 },
        )
        const [code] = await seederDone // its connection closed with the downloader's exit
        const seederCpu = seeder.lastLine()?.cpu
        if (code !== 0 || !Number.isFinite(seederCpu)) throw new Error(`the Node floor's seeder failed (exit ${code})`)
        const got = await sha256(out)
        if (got !== expected) throw new Error(`the Node floor's output is not identical: ${got} ≠ ${expected}`)
        return { ...r, cpu: r.cpu + seederCpu }
      } finally {
        await seeder.stop()
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}

/**
 * The report's lines: both floors beside the target (1 seeder ≤ 1.2 × cp). `m`: the medians by key (cp,
 * download1, floor1); `work`: the CPU-seconds of each run's parts ({ cipher, openssl, tcp, floor }, one entry a
 * run), whose required sum is taken run by run.
 */
export function floorLines(m, work) {
  const cores = availableParallelism()
  const cipher = median(work.cipher)
  const hashes = 2 * median(work.openssl)
  const tcp = median(work.tcp)
  const parts = median(work.cipher.map((c, run) => c + 2 * work.openssl[run] + work.tcp[run]))
  const least = parts / cores
  return [
    `What a download from 1 seeder cannot skip, measured in this run: sealing and opening every byte ${cipher.toFixed(2)} CPU-s, two SHA-256 passes ${hashes.toFixed(2)} (openssl's user time, twice), the bytes through TCP ${tcp.toFixed(2)} (both raw-TCP processes, start-up left out): ${parts.toFixed(2)} CPU-s (the median of the runs' sums), ≥ ${least.toFixed(2)} s on ${cores} cores = ${(least / m.cp).toFixed(2)} × cp (target ≤ 1.2 ×; the writes, the runtime and any wait left out).`,
    `The thinnest Node pair doing that work and the writes (bench/floor-peer.mjs: 1 seeder, sealed, every chunk and the whole file checked, written past the page cache; both processes' CPU, start-up included as in p2p-download's): ${m.floor1.toFixed(2)} s at ${median(work.floor).toFixed(2)} CPU-s = ${(m.floor1 / m.cp).toFixed(2)} × cp; p2p-download from 1 seeder ÷ it: ${(m.download1 / m.floor1).toFixed(2)} ×.`,
  ]
}
