import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBenchScript } from '../helpers/bench.js'

/**
 * `npm run bench`'s loopback run, end to end at a small size: nothing else
 * runs the benchmark's scripts, and they once failed at their first pull for
 * a renamed export while every test passed. No figure is judged here (speed
 * stays out of pass/fail tests); only that every step ran, compared its
 * output's SHA-256 with the input's (the bench throws otherwise) and wrote
 * its results. nginx and aria2c run too where they are installed.
 */

// The machine's limits the bench measures against: base tools, not the anchors bench/setup.sh installs.
const missing = ['openssl', 'split'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)

describe('the loopback benchmark (smoke run, 4 MiB)', () => {
  const skip = missing.length > 0 ? `needs ${missing.join(', ')}` : false
  it('runs every step to its report and writes results of its own', { timeout: 300_000, skip }, async (t) => {
    const { results, latest } = await runBenchScript<{ loopback: { medians: Record<string, number> } }>(t, 'run.mjs', [
      '--size',
      '4MiB',
      '--runs',
      '1',
      '--memory-sizes',
      '',
      '--no-folder',
    ])
    const keys = [
      'cp',
      'cpReused',
      'openssl',
      'tcp',
      'split',
      'pull',
      'download1',
      'floor1',
      'download2',
      'download2plain',
    ]
    for (const key of keys) assert.ok(latest.loopback.medians[key]! > 0, `no figure for ${key}`)
    const markdown = readFileSync(join(results, 'latest.md'), 'utf8')
    assert.match(markdown, /p2p-download from 1 seeder ÷ each copy/)
    assert.match(markdown, /What a download from 1 seeder cannot skip, measured in this run: .* ≥ \d+\.\d+ s on/)
    assert.match(markdown, /The thinnest Node pair doing that work .*: \d+\.\d+ s at \d+\.\d+ CPU-s/)
    assert.match(markdown, /Encrypted \(the default\) ÷ --transport plain/)
  })
})
