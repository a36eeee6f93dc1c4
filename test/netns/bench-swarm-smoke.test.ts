import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBenchScript } from '../helpers/bench.js'
import { netnsAvailable } from './harness.js'

/**
 * `npm run bench:swarm` end to end at a small size, in the bench's own
 * namespaces (bench/netns.mjs: per-run names, removed at exit): nothing else
 * runs it, and its report once failed at its last step after a 6-minute run.
 * No figure is judged (speed stays out of pass/fail tests); the bench checks
 * every output's SHA-256 against the source and throws otherwise (the Node
 * floor also checks its whole file itself). aria2c and nginx run too where
 * installed.
 */
describe('the swarm benchmark (smoke run, 8 MiB, N = 1 and 2)', { skip: netnsAvailable() }, () => {
  it('runs every round to its report, plot included, into a directory of its own', { timeout: 300_000 }, async (t) => {
    const { results, latest } = await runBenchScript<{
      swarm: { rounds: Array<{ n: number; method: string; seconds: number[] }> }
    }>(t, 'swarm.mjs', [
      '--size',
      '8MiB',
      '--hosts',
      '1,2',
      '--tools',
      'p2pshare,p2pshare-seed,bittorrent,http,node-floor-checked',
    ])
    // The floor too: at N = 2 chunks may come out of order, and its whole-file check then reads them back (direct).
    for (const method of ['p2pshare', 'p2pshare-seed', 'node-floor-checked'])
      for (const n of [1, 2]) {
        const round = latest.swarm.rounds.find((r) => r.n === n && r.method === method)
        assert.equal(round?.seconds.length, n, `${method} at N = ${n}: one time per downloader`)
      }
    assert.ok(existsSync(join(results, 'benchmarks-swarm.svg')), 'the plot beside the results')
    assert.match(readFileSync(join(results, 'latest.md'), 'utf8'), /\]\(benchmarks-swarm\.svg\)/)
  })
})
