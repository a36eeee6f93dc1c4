// The loopback section of the results: one table (medians of the runs, their
// range, ratios to openssl, cp and curl ← nginx, each client's peak RSS) and
// the lines that put p2p-split and p2p-download beside their floors.
import { availableParallelism } from 'node:os'
import { median } from './lib.mjs'
import { floorLines } from './loopback-floor.mjs'
import { MB, machine, mb, mib, saveSection } from './results.mjs'

const ROWS = [
  ['cp, into pages freed long ago (limit; the ÷ cp column)', 'cp'],
  ['  cp again at once, into the pages the first copy just freed', 'cpReused'],
  ['  dd oflag=direct bs=1M: a copy written past the page cache, as p2p-download writes', 'directCopy'],
  ['openssl dgst -sha256 (limit)', 'openssl'],
  ['raw TCP, 2 Node processes (limit)', 'tcp'],
  ['coreutils split -b 1MiB: the chunk files written, no hashing (limit)', 'chunkFiles'],
  ['p2p-split', 'split'],
  ['pull all chunks, 1 connection, 16 requests in flight, each chunk verified (transfer)', 'pull'],
  ['  the same pull, process wall (start-up and store scan included)', 'pullWall'],
  ['curl ← nginx, HTTP with sendfile, verifies nothing (wall)', 'curl'],
  ['p2p-download, 1 seeder (wall)', 'download1'],
  ['  Node floor, 1 seeder: bench/floor-peer.mjs, sealed, both checks, writes past the page cache (wall)', 'floor1'],
  ['p2p-download, 2 seeders (wall)', 'download2'],
  ['p2p-download, 2 seeders, by --id (wall)', 'download2id'],
  ['p2p-download, 2 seeders, by --id, --transport plain (wall)', 'download2plain'],
  ['aria2c BitTorrent, 1 aria2c seeder, SHA-1 piece checks (wall)', 'aria1'],
  ['aria2c BitTorrent, 2 aria2c seeders (wall)', 'aria2'],
]

export function loopbackReport({ size, runs, samples, rss, memory, smallChunks, skipped, encryption, floorWork }) {
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]))
  const r = Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, median(v)]))
  const has = (k) => samples[k]?.length > 0
  const range = (k) => `${Math.min(...samples[k]).toFixed(2)}–${Math.max(...samples[k]).toFixed(2)}`
  const ratio = (k, base) => (has(base) ? `${(m[k] / m[base]).toFixed(2)} ×` : '–')
  const rows = ROWS.filter(([, k]) => has(k)).map(
    ([label, k]) =>
      `| ${label} | ${m[k].toFixed(2)} s (${range(k)}) | ${(size / m[k] / MB).toFixed(0)} | ${ratio(k, 'openssl')} | ${ratio(k, 'cp')} | ${ratio(k, 'curl')} | ${mb(r[k])} |`,
  )
  const splitFloor = Math.max(m.openssl, m.chunkFiles)
  const lines = [
    `Measured ${machine()}; file ${mib(size)} of random bytes in page cache, ${runs} run(s), median (min–max). Peak RSS is the client's (GNU time %M).`,
    '',
    '| what | time | MB/s | ÷ openssl | ÷ cp | ÷ curl←nginx | peak RSS |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `p2p-split ÷ the larger of its two floors (openssl ${m.openssl.toFixed(2)} s, coreutils split ${m.chunkFiles.toFixed(2)} s): ${(m.split / splitFloor).toFixed(2)} ×.`,
    ...(has('cpReused') && has('download1')
      ? [
          `p2p-download from 1 seeder ÷ each copy: ${(m.download1 / m.cp).toFixed(2)} × cp into pages freed long ago (the target's), ${(m.download1 / m.cpReused).toFixed(2)} × cp into pages just freed${has('directCopy') ? `, ${(m.download1 / m.directCopy).toFixed(2)} × dd oflag=direct` : ' (dd oflag=direct: not measured, the filesystem refused O_DIRECT)'}.`,
        ]
      : []),
    ...(has('floor1') ? floorLines(m, floorWork) : []),
    ...(has('download2plain') ? encryptionLines(m, r, encryption) : []),
    ...(has('aria1')
      ? [
          `aria2c BitTorrent ÷ p2p-download: ${(m.aria1 / m.download1).toFixed(2)} × (1 seeder), ${(m.aria2 / m.download2).toFixed(2)} × (2 seeders).`,
        ]
      : []),
    `Peak RSS: p2p-download ${mb(r.download1)} (1 seeder), ${mb(r.download2)} (2 seeders); p2p-serve/p2p-announce at most ${mb(r.serve)}${has('aria1') ? `; aria2c leecher ${mb(r.aria1)}` : ''}${has('curl') ? `; curl ${mb(r.curl)}` : ''}.`,
    ...(memory.length
      ? [
          '',
          '| file | p2p-download peak RSS | seeder peak RSS | time |',
          '|---|---|---|---|',
          ...memory.map(
            (x) => `| ${mib(x.size)} | ${mb(x.downloadRss)} | ${mb(x.seederRss)} | ${x.seconds.toFixed(2)} s |`,
          ),
        ]
      : []),
    ...(smallChunks
      ? [
          '',
          `10,000 chunks of 64 KiB (${mib(smallChunks.size)}), 1 seeder: ${smallChunks.seconds.toFixed(2)} s, ${smallChunks.rate.toFixed(0)} MB/s = ${(smallChunks.rate / (size / m.download1 / MB)).toFixed(2)} × the 1 MiB-chunk rate.`,
        ]
      : []),
    ...Object.entries(skipped).map(([what, why]) => `\nSkipped: ${what}: ${why}.`),
  ]
  const markdown = lines.join('\n')
  saveSection(
    'loopback',
    { size, runs, samples, rss, medians: m, medianRss: r, memory, smallChunks, skipped, encryption, floorWork },
    markdown,
  )
  return markdown
}

/**
 * Issue 16: the encrypted default against --transport plain, and its floor: the plain download's
 * CPU (the downloader's and the seeders' processes) plus what sealing and opening the file costs
 * the cipher alone, spread over the machine's cores: no implementation of this wire format can do
 * better here.
 */
function encryptionLines(m, r, { firstByte, cpu, cipher }) {
  const cores = availableParallelism()
  const plainCpu = median(cpu.plain)
  const floor = Math.max(m.download2plain, (plainCpu + median(cipher)) / cores)
  return [
    `Encrypted (the default) ÷ --transport plain, 2 seeders, by id: ${(m.download2id / m.download2plain).toFixed(2)} × (target ≤ 1.25 ×); peak RSS ${mb(r.download2id)} encrypted, ${mb(r.download2plain)} plain (target ≤ 150 MB).`,
    `Its floor: the plain download's processes used ${plainCpu.toFixed(2)} CPU-s (${((100 * plainCpu) / (cores * m.download2plain)).toFixed(0)} % of ${cores} cores over its wall time), the encrypted one's ${median(cpu.encrypted).toFixed(2)} CPU-s; sealing and opening the file costs the cipher alone ${median(cipher).toFixed(2)} CPU-s, so ≥ ${floor.toFixed(2)} s = ${(floor / m.download2plain).toFixed(2)} × plain on ${cores} cores.`,
    `First byte (start → manifest, medians): by id encrypted ${median(firstByte.encrypted).toFixed(0)} ms, plain ${median(firstByte.plain).toFixed(0)} ms; by name (encrypted; fetched from the first answer on, the 1.2 s name decision runs meanwhile) ${median(firstByte.name).toFixed(0)} ms.`,
  ]
}
