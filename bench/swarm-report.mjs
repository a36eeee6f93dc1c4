// The swarm section of the results: one row per N and tool, and the plot of
// time-to-last-finish against N (docs/benchmarks-swarm.svg, or beside the results: results.mjs).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, relative } from 'node:path'
import { median } from './lib.mjs'
import { lineChart } from './plot.mjs'
import { DIR, machine, mb, mib, PLOT, saveSection } from './results.mjs'

const LABELS = {
  p2pshare: 'p2pshare',
  'p2pshare-seed': 'p2pshare, one process a host (--seed)',
  bittorrent: 'BitTorrent (aria2c)',
  http: 'HTTP (curl ← nginx)',
  'node-floor': 'Node floor (bench/floor-peer.mjs)',
  'node-floor-sealed': 'Node floor, sealed as p2pshare (bench/floor-peer.mjs)',
  'node-floor-checked': 'Node floor, sealed, whole-file check as p2pshare (bench/floor-peer.mjs)',
}
const COLORS = {
  p2pshare: '#1f77b4',
  'p2pshare-seed': '#9467bd',
  bittorrent: '#d62728',
  http: '#2ca02c',
  'node-floor': '#7f7f7f',
  'node-floor-sealed': '#bcbd22',
  'node-floor-checked': '#17becf',
}
/** A p2pshare round's label says its layout (the `p2pshare` tool runs one `--seed` process a host under --p2p-layout seed). */
const labelOf = (r) => LABELS[r.layout === 'seed' ? 'p2pshare-seed' : r.method]
const LAYOUTS = {
  daemons: '`p2pshare`: each downloader host runs `p2p-serve` and `p2p-announce` beside `p2p-download`',
  seed: '`p2pshare, one process a host`: each downloader host runs one `p2p-download --seed` (download, serve and announce in one process, as aria2c; its CPU and RSS include serving; timed to its receipt, it then seeds on until the last is done)',
}
const ROLES = {
  daemons: 'p2p-download / p2p-serve / p2p-announce (all hosts)',
  seed: "p2p-download --seed (all downloader hosts) / the seeder host's p2p-serve / p2p-announce",
}

/** A tc rate ("200mbit", "1gbit", "500kbit") in bits per second. */
export function parseRate(text) {
  const m = /^(\d+(?:\.\d+)?)(kbit|mbit|gbit)$/.exec(text)
  if (!m) throw new Error(`bad rate ${text}: use e.g. 200mbit or 1gbit`)
  return Number(m[1]) * { kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2]]
}

const last = (r) => Math.max(...r.seconds)

/**
 * Each N and tool once: its median round by last done (of an even count, the lower middle one), with every
 * round's last done in `lasts` in the order they ran. With one round each (the default), the rounds as they are.
 */
export function medianRounds(rounds) {
  const groups = new Map()
  for (const r of rounds) {
    const key = `${r.n} ${r.method}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  return [...groups.values()].map((group) => {
    const sorted = [...group].sort((a, b) => last(a) - last(b))
    return { ...sorted[(sorted.length - 1) >> 1], lasts: group.map(last) }
  })
}

/** p2pshare's last done ÷ aria2c's, round by round, for each N with both (`method`: the p2pshare tool). */
export function ratiosToBitTorrent(rounds, method) {
  const byN = new Map()
  for (const p of rounds.filter((r) => r.method === method)) {
    const bt = rounds.find((r) => r.method === 'bittorrent' && r.n === p.n && r.round === p.round)
    if (bt) byN.set(p.n, [...(byN.get(p.n) ?? []), last(p) / last(bt)])
  }
  return byN
}

export function swarmReport({ size, rate, delay, delayApplied, linkBps, counts, rounds: all, skipped, by = 'name' }) {
  const rounds = medianRounds(all)
  const repeated = rounds.some((r) => r.lasts.length > 1)
  const one = (method) => rounds.find((r) => r.method === method && r.n === Math.min(...counts))
  const s = (x) => `${x.toFixed(2)} s`
  const cores = cpus().length
  // The machine's CPU over the round (every process and the kernel's packet work): when it is near all cores, CPU is the wall, not the links.
  const busy = (r) =>
    Number.isFinite(r.machineCpu)
      ? `${r.machineCpu.toFixed(0)} CPU-s, ${((100 * r.machineCpu) / (last(r) * cores)).toFixed(0)} %`
      : 'n/a'
  const rows = rounds.map(
    (r) =>
      `| ${r.n} | ${labelOf(r)} | ${s(last(r))} | ${repeated ? `${r.lasts.map((x) => x.toFixed(2)).join(', ')} | ` : ''}${s(Math.min(...r.seconds))} / ${s(median(r.seconds))} | ${mib(r.seederSent)} | ${(r.seederSent / size).toFixed(2)} × | ${(last(r) / last(one(r.method))).toFixed(2)} × | ${mb(median(r.rss))} | ${busy(r)} |`,
  )
  const ratioLines = ['p2pshare-seed', 'p2pshare'].flatMap((method) =>
    [...ratiosToBitTorrent(all, method)].map(
      ([n, ratios]) =>
        `- N = ${n}, ${labelOf(rounds.find((r) => r.method === method))}: ${ratios.map((x) => x.toFixed(2)).join(', ')}${ratios.length > 1 ? `; median **${median(ratios).toFixed(2)} ×**` : ' ×'}`,
    ),
  )
  const p2pRounds = rounds.filter((r) => r.layout !== undefined)
  const layouts = [...new Set(p2pRounds.map((r) => r.layout))]
  const p2pRows = p2pRounds.map((r) => {
    const kept = r.fromSeeder + r.fromPeers
    const roles = r.roles
      ? `${r.roles.download.toFixed(0)} / ${r.roles.serve.toFixed(0)} / ${r.roles.announce.toFixed(1)}`
      : 'n/a'
    const hashed = Number.isFinite(r.hashedFirst?.hashed) ? `${r.hashedFirst.hashed} of ${r.hashedFirst.chunks}` : 'n/a'
    return `| ${r.n} | ${labelOf(r)} | ${((100 * r.fromSeeder) / kept).toFixed(0)} % | ${((100 * r.fromPeers) / kept).toFixed(0)} % | ${(r.fetched / kept).toFixed(2)} × | ${mib(Math.min(...r.served))} – ${mib(Math.max(...r.served))} | ${hashed} | ${roles} |`
  })
  const floor = linkBps ? (size * 8) / linkBps : (size * 8) / parseRate(rate)
  const lines = [
    `Measured ${machine()}; file ${mib(size)} of random bytes; 1 seeder host and N downloader hosts on one bridge, every host's link shaped to ${rate} each way${delayApplied ? `, ${delay} host to host` : ` (the ${delay} delay was not applied: this kernel has no netem)`}${linkBps ? `; iperf3 measured ${(linkBps / 1e6).toFixed(0)} Mbit/s of TCP goodput over one link` : ''}. All N downloaders start together; times from that start to each one's exit (aria2c: to its completion hook, it then seeds on until the last is done).${layouts.map((l) => ` ${LAYOUTS[l]}.`).join('')} p2p-download is given the file's ${by === 'id' ? 'id (`--id`, as aria2c is given the torrent)' : 'name (each also waits, before its final name, until no other file of that name has answered for 1.2 s)'}. Every output's SHA-256 checked.`,
    '',
    `One file over one link takes ${s(floor)} (the floor for every N when the downloaders feed each other; HTTP's floor is N × that, the seeder's link being the wall).`,
    '',
    ...(repeated
      ? [
          `Each N's round of every tool ran ${rounds[0].lasts.length} times, the tools' order reversed every other time; each row is the tool's median round (by last done), and "every round" lists each round's last done in the order they ran.`,
          '',
        ]
      : []),
    `| N | tool | last done | ${repeated ? 'every round | ' : ''}first / median done | seeder sent | ÷ file size | last ÷ its N = ${Math.min(...counts)} | client peak RSS (median) | machine CPU, busy of ${cores} cores |`,
    `|---|---|---|${repeated ? '---|' : ''}---|---|---|---|---|---|`,
    ...rows,
    '',
    '"seeder sent" is what the seeder host\'s eth0 transmitted during the round (kernel counters: TCP/IP headers and the protocol included). "machine CPU" is what the whole machine spent busy from the common start to the last finish (/proc/stat: every process and the kernel\'s packet and shaping work); near 100 % the cores, not the links, are the wall.',
    ...(ratioLines.length
      ? ['', "p2pshare's last done ÷ aria2c's, round by round (below 1: p2pshare finished first):", '', ...ratioLines]
      : []),
    ...(p2pRows.length
      ? [
          '',
          "p2pshare, by the downloaders' receipts and the servers' counts:",
          '',
          `| N | tool | kept bytes from the seeder | from other downloaders | fetched ÷ kept (duplicates) | each downloader served (min – max) | chunks they hashed before serving, of those served | CPU-s: ${layouts.map((l) => ROLES[l]).join('; ')} |`,
          '|---|---|---|---|---|---|---|---|',
          ...p2pRows,
        ]
      : []),
    ...Object.entries(skipped).map(([what, why]) => `\nSkipped: ${LABELS[what] ?? what}: ${why}.`),
  ]
  const methods = [...new Set(rounds.map((r) => r.method))]
  mkdirSync(dirname(PLOT), { recursive: true })
  writeFileSync(
    PLOT,
    lineChart({
      title: `Time until the last of N downloaders has the file (${mib(size)})`,
      subtitle: `1 seeder, N downloaders, every link ${rate}${delayApplied ? `, ${delay}` : ' (no delay: no netem)'}; ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores`,
      xLabel: 'N downloaders (all started together)',
      yLabel: 'seconds until the last one finished',
      xTicks: counts,
      series: methods.map((m) => ({
        name: labelOf(rounds.find((r) => r.method === m)),
        color: COLORS[m],
        points: rounds.filter((r) => r.method === m).map((r) => [r.n, last(r)]),
      })),
      references: [{ name: 'one file over one link', y: floor }],
    }),
  )
  const markdown = `${lines.join('\n')}\n\n![time until the last downloader finished, against N](${relative(DIR, PLOT)})`
  saveSection('swarm', { size, rate, delay, delayApplied, linkBps, counts, rounds: all, skipped, by }, markdown)
  return lines.join('\n')
}
