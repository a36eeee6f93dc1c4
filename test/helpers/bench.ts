import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { ROOT } from './cli.js'

/**
 * Run `bench/<script>` with `args` and `--dir` in a temporary directory
 * (removed after the test), its results there too (P2P_BENCH_RESULTS: the
 * recorded ones are left alone); asserts it exits 0 within `timeoutMs` and
 * returns the results directory and its parsed latest.json.
 */
export async function runBenchScript<T>(
  t: TestContext,
  script: string,
  args: string[],
  timeoutMs = 240_000,
): Promise<{ results: string; latest: T }> {
  const dir = mkdtempSync(join(tmpdir(), 'p2p-bench-smoke-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const results = join(dir, 'results')
  const child = spawn(process.execPath, [join(ROOT, 'bench', script), ...args, '--dir', join(dir, 'work')], {
    env: { ...process.env, P2P_BENCH_RESULTS: results },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d))
  // SIGTERM: the bench stops every process it started (and deletes its namespaces) before it exits.
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs)
  const [code] = (await once(child, 'close')) as [number | null]
  clearTimeout(timer)
  assert.equal(code, 0, output.slice(-2000))
  return { results, latest: JSON.parse(readFileSync(join(results, 'latest.json'), 'utf8')) as T }
}
