// bench/results/latest.{json,md}: one section per kind of run (loopback,
// swarm, folder). A run rewrites its own sections and keeps the others as
// the last run of their kind left them, so the files always describe all.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { extraCaCertsDropped, ROOT } from './lib.mjs'

// P2P_BENCH_RESULTS: elsewhere, the swarm's plot included (a smoke run leaves the recorded results alone).
const ELSEWHERE = process.env.P2P_BENCH_RESULTS
export const DIR = ELSEWHERE || join(ROOT, 'bench', 'results')
/** Where the swarm's plot goes: docs/, beside the figures it draws, unless the results go elsewhere. */
export const PLOT = join(ELSEWHERE || join(ROOT, 'docs'), 'benchmarks-swarm.svg')
const TITLES = {
  loopback: "Loopback: one downloader against the machine's limits and the tools users would pick instead",
  swarm: 'Swarm: one seeder, N downloaders on shaped links (network namespaces)',
  folder: 'Folder: 10,000 small files against one file of the same size',
  sites: 'Two sites behind NATs: a download through the DHT against one TCP flow (network namespaces)',
}

export const MB = 1e6
export const mb = (bytes) => (Number.isFinite(bytes) ? `${(bytes / MB).toFixed(0)} MB` : '–')
export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`

export function machine() {
  return `${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}${extraCaCertsDropped ? ' (its processes started without the NODE_EXTRA_CA_CERTS this machine sets)' : ''}`
}

/** Replace section `name` of latest.json with `data` (+ its markdown) and rewrite latest.md from every section. */
export function saveSection(name, data, markdown) {
  mkdirSync(DIR, { recursive: true })
  const path = join(DIR, 'latest.json')
  let all = {}
  try {
    const old = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {}
    for (const key of Object.keys(TITLES)) if (old[key]?.markdown) all[key] = old[key] // a file in the old one-section layout is dropped
  } catch {
    all = {}
  }
  all[name] = { date: new Date().toISOString(), ...data, markdown }
  writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`)
  const md = Object.keys(TITLES)
    .filter((k) => all[k])
    .map((k) => `## ${TITLES[k]}\n\n${all[k].markdown}\n`)
  writeFileSync(join(DIR, 'latest.md'), `# Latest benchmark results\n\n${md.join('\n')}`)
  return all
}
