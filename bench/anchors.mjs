// The tools users would pick instead of p2pshare, run the same way on
// loopback and inside the swarm's namespaces: nginx (HTTP, sendfile) with
// curl, and BitTorrent with aria2c seeders and leechers, a torrent made by
// mktorrent and opentracker as the tracker (Debian builds it with a
// whitelist, so the bench writes one with the torrent's info hash). Every
// tool gets its own config in the bench's temp dir, binds to one given
// address (127.0.0.1, or a namespace host's), and is stopped by PID.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { daemon, waitFor, which } from './lib.mjs'

/** `cmd args` as run inside network namespace `ns` (or as is when `ns` is undefined). */
export const inNs = (ns, cmd, args) => (ns ? ['ip', ['netns', 'exec', ns, cmd, ...args]] : [cmd, args])

const TOOLS = { nginx: 'nginx', curl: 'curl', aria2c: 'aria2c', mktorrent: 'mktorrent', opentracker: 'opentracker' }

/** Why a comparison needing `tools` cannot run here, or undefined when it can. */
export function missingTools(tools) {
  const missing = tools.filter((t) => !which(TOOLS[t] ?? t))
  return missing.length ? `${missing.join(', ')} not installed (run bench/setup.sh as root)` : undefined
}

export const HTTP_TOOLS = ['nginx', 'curl']
export const BT_TOOLS = ['aria2c', 'mktorrent', 'opentracker', 'curl']

/** The body of `url` via curl (in `ns`), or undefined when it cannot be had (yet). */
function fetchText(ns, url) {
  const [cmd, args] = inNs(ns, 'curl', ['-s', '-f', '--max-time', '2', url])
  const r = spawnSync(cmd, args, { encoding: 'latin1', timeout: 5000 })
  return r.status === 0 ? r.stdout : undefined
}

/**
 * nginx serving the files in `root` from `address:port`, one worker, sendfile
 * on, no access log, everything it writes under `dir`.
 */
export async function startNginx({ dir, root, address, port, ns }) {
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      // Run as root, nginx would switch to nobody, who cannot enter the bench's 0700 temp dir.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off; sendfile on; tcp_nopush on; default_type application/octet-stream;',
      `  server { listen ${address}:${port}; root ${root}; }`,
      '}',
      '',
    ].join('\n'),
  )
  const [cmd, args] = inNs(ns, which('nginx'), ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')])
  const server = daemon(cmd, args)
  const base = `http://${address}:${port}`
  await waitFor(
    () => {
      if (server.child.exitCode !== null)
        throw new Error(`nginx exited (${server.child.exitCode}); see ${join(dir, 'error.log')}`)
      return (
        spawnSync(...inNs(ns, 'curl', ['-s', '-o', '/dev/null', '--max-time', '2', `${base}/`]), { timeout: 5000 })
          .status === 0
      ) // any HTTP answer
    },
    10_000,
    'nginx listening',
  )
  return { url: (name) => `${base}/${encodeURIComponent(name)}`, stop: () => server.stop('SIGQUIT') }
}

/** A .torrent of `file` with 1 MiB pieces (as p2pshare's chunks) announcing to `announce`; returns its info hash. */
export function makeTorrent(file, announce, out) {
  const made = spawnSync('mktorrent', ['-l', '20', '-a', announce, '-o', out, file], { encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`mktorrent failed: ${made.stderr.trim()}`)
  const shown = spawnSync('aria2c', ['--no-conf', '-S', out], { encoding: 'utf8' })
  const infoHash = /Info Hash:\s*([0-9a-f]{40})/i.exec(shown.stdout)?.[1]?.toLowerCase()
  if (!infoHash) throw new Error(`cannot read the info hash of ${out}`)
  return { torrent: out, infoHash }
}

/** opentracker on `address:port` (HTTP only), whitelisting `infoHash`, chrooted into `dir`. */
export async function startTracker({ dir, address, port, ns, infoHash }) {
  mkdirSync(dir, { recursive: true })
  chmodSync(dir, 0o755) // opentracker drops to nobody inside its chroot and must read the whitelist
  writeFileSync(join(dir, 'whitelist.txt'), `${infoHash}\n`)
  writeFileSync(join(dir, 'opentracker.conf'), 'access.whitelist whitelist.txt\n')
  const root = process.getuid?.() === 0 ? ['-d', dir, '-u', 'nobody'] : []
  const [cmd, args] = inNs(ns, which('opentracker'), [
    '-i',
    address,
    '-p',
    String(port),
    ...root,
    '-f',
    join(dir, 'opentracker.conf'),
  ])
  const tracker = daemon(cmd, args, { cwd: dir })
  const base = `http://${address}:${port}`
  const scrapeUrl = `${base}/scrape?info_hash=${[...Buffer.from(infoHash, 'hex')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`
  /** Seeders the tracker knows for the torrent (the scrape's "complete"), or -1 when it does not answer. */
  const seeders = () => Number(/8:completei(\d+)e/.exec(fetchText(ns, scrapeUrl) ?? '')?.[1] ?? -1)
  await waitFor(
    () => {
      if (tracker.child.exitCode !== null) throw new Error(`opentracker exited (${tracker.child.exitCode})`)
      return fetchText(ns, scrapeUrl) !== undefined
    },
    10_000,
    'opentracker answering',
  )
  return {
    announce: `${base}/announce`,
    seeders,
    /** Resolves once the tracker lists at least `count` seeders (they hash-check the file first). */
    untilSeeders: (count, ms) => waitFor(() => seeders() >= count, ms, `${count} BitTorrent seeder(s) announced`),
    stop: () => tracker.stop(),
  }
}

/**
 * aria2c arguments for one BitTorrent peer: piece checks on, no DHT, no
 * local peer discovery, no peer exchange, IPv4 only, no user config. A
 * seeder (`seed`) checks the file in `dir` and seeds until stopped; a
 * leecher downloads into `dir`, then runs `hook` (if given) and seeds on
 * (`keepSeeding`) or exits at once.
 */
export function aria2Args({ torrent, dir, port, address, seed = false, keepSeeding = false, hook }) {
  return [
    '--no-conf',
    '--disable-ipv6',
    '--check-integrity=true',
    '--bt-hash-check-seed=true',
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    `--dir=${dir}`,
    `--listen-port=${port}`,
    ...(address ? [`--interface=${address}`] : []),
    '--file-allocation=falloc',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--console-log-level=error',
    '--summary-interval=0',
    '--show-console-readout=false',
    '--download-result=hide',
    ...(seed || keepSeeding ? ['--seed-ratio=0.0'] : ['--seed-time=0']),
    ...(hook ? [`--on-bt-download-complete=${hook}`] : []),
    torrent,
  ]
}

/** A script aria2c runs when its download is complete: it writes the time (ms since the epoch) to $BENCH_DONE_FILE. */
export function doneHook(dir) {
  const path = join(dir, 'aria2-done.sh')
  writeFileSync(
    path,
    '#!/bin/sh\n# written by bench/anchors.mjs: aria2c calls it when a download is complete\ndate +%s%3N > "$BENCH_DONE_FILE.tmp" && mv "$BENCH_DONE_FILE.tmp" "$BENCH_DONE_FILE"\n',
    { mode: 0o755 },
  )
  return path
}
