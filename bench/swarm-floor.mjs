// The swarm bench's Node floor (--tools node-floor, node-floor-sealed,
// node-floor-checked): the same hosts and links as p2pshare's round, one
// bench/floor-peer.mjs process per host, moving the file the cheapest way a
// swarm can (floor-peer.mjs says how). What it costs the machine is what any
// Node program would pay for these bytes, their SHA-256 checks and their
// writes (past the page cache, as p2p-download's), so the gap between it and
// p2pshare's round is p2pshare's own, and the gap between it and aria2c's is
// Node's.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { inNs } from './anchors.mjs'
import { daemon, ROOT, waitFor } from './lib.mjs'

const PEER = join(ROOT, 'bench', 'floor-peer.mjs')
const PORT = 7700

/** Each chunk's SHA-256 (hex) of `path`, for the downloaders to check against. */
async function chunkHashes(path, size, chunk) {
  const file = await open(path, 'r')
  const buffer = Buffer.allocUnsafe(chunk)
  const hashes = []
  try {
    for (let at = 0; at < size; at += chunk) {
      const { bytesRead } = await file.read(buffer, 0, Math.min(chunk, size - at), at)
      hashes.push(createHash('sha256').update(buffer.subarray(0, bytesRead)).digest('hex'))
    }
  } finally {
    await file.close()
  }
  return hashes
}

/**
 * One round: the seeder's floor-peer listening, then one on every downloader
 * host, all started together and timed to each one's last write. `floor`:
 * { source, size, chunk, hashesPath, nodeFlags, sealed, checked }; `round`: the swarm
 * bench's shared steps ({ together, verify, tx, freshDirs }).
 */
export async function roundNodeFloor(seeder, downloaders, expected, timeoutMs, floor, round) {
  round.freshDirs(downloaders)
  const addresses = downloaders.map((h) => h.address)
  const peers = []
  const start = (host, config) => {
    const [cmd, argv] = inNs(host.ns, process.execPath, [
      ...floor.nodeFlags,
      PEER,
      JSON.stringify({
        size: floor.size,
        chunk: floor.chunk,
        port: PORT,
        peers: addresses,
        seeder: seeder.address,
        sealed: floor.sealed === true,
        ...config,
      }),
    ])
    const p = daemon(cmd, argv)
    peers.push(p)
    return p
  }
  try {
    // The seeder listens first (as the other tools' seeders are up before a round), and pushes once a downloader asks.
    start(seeder, { role: 'seeder', file: floor.source })
    const before = round.tx(seeder)
    const deadline = Date.now() + timeoutMs
    const { results, machineCpu } = await round.together(downloaders, async (h, wall0) => {
      const done = join(h.dir, 'done')
      const me = addresses.indexOf(h.address)
      // Written (and read back) past the page cache, as p2p-download does: buffered writes into fresh pages cost
      // this VM up to ten times more on some days (docs/benchmarks.md), and a floor must not pay what p2pshare does not.
      const checks = { hashes: floor.hashesPath, direct: true, ...(floor.checked ? { whole: expected } : {}) }
      const p = start(h, { role: 'peer', me, file: join(h.dir, 'out'), done, ...checks })
      await waitFor(
        () => {
          if (p.child.exitCode !== null) throw new Error(`floor-peer on ${h.address} exited (${p.child.exitCode})`)
          return existsSync(done)
        },
        Math.max(0, deadline - Date.now()),
        `floor-peer on ${h.address} complete`,
      )
      const doneAt = Number(readFileSync(done, 'utf8'))
      return { doneAt: Math.max(doneAt, wall0), rss: p.peakRss() }
    })
    const seederSent = round.tx(seeder) - before
    for (const p of peers) await p.stop()
    await round.verify(
      downloaders.map((h) => join(h.dir, 'out')),
      expected,
    )
    return { seconds: results.map((r) => r.seconds), rss: results.map((r) => r.rss), seederSent, machineCpu }
  } finally {
    for (const p of peers) await p.stop()
  }
}

/** Write the chunk list once per run; returns its path. */
export async function prepareNodeFloor(dir, source, size, chunk) {
  const hashesPath = join(dir, 'floor-hashes.json')
  writeFileSync(hashesPath, JSON.stringify(await chunkHashes(source, size, chunk)))
  return hashesPath
}
