import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/cli.js'

/**
 * The bench starts its children without NODE_EXTRA_CA_CERTS (bench/lib.mjs: Node reads that file at every start,
 * ~37 ms of CPU a process on a machine that sets it), and a bench script started by another (the full run's
 * swarm) still says in its report that it was dropped.
 */

const LIB = pathToFileURL(join(ROOT, 'bench', 'lib.mjs')).href

/** What a script importing bench/lib.mjs sees, and what its own child inherits. */
function probe(env: NodeJS.ProcessEnv): { dropped: boolean; own?: string; marker?: string; child?: string } {
  const script = `
    const { extraCaCertsDropped } = await import(${JSON.stringify(LIB)})
    const { execFileSync } = await import('node:child_process')
    const child = execFileSync(process.execPath, ['-p', 'process.env.NODE_EXTRA_CA_CERTS ?? "unset"'], { encoding: 'utf8' }).trim()
    console.log(JSON.stringify({ dropped: extraCaCertsDropped, own: process.env.NODE_EXTRA_CA_CERTS, marker: process.env.BENCH_EXTRA_CA_CERTS_DROPPED, child }))`
  const { NODE_EXTRA_CA_CERTS: _unused, BENCH_EXTRA_CA_CERTS_DROPPED: _marker, ...base } = process.env
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...base, ...env },
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
}

describe('bench children without NODE_EXTRA_CA_CERTS', () => {
  it('a bench script removes it before it starts anything, and says so', () => {
    // An empty file: Node reads it at start and finds no certificate, without a warning.
    const seen = probe({ NODE_EXTRA_CA_CERTS: '/dev/null' })
    assert.deepEqual(seen, { dropped: true, marker: '1', child: 'unset' })
  })

  it('a bench script started by one that removed it still says it was removed', () => {
    assert.deepEqual(probe({ BENCH_EXTRA_CA_CERTS_DROPPED: '1' }), { dropped: true, marker: '1', child: 'unset' })
  })

  it('where it was never set, nothing is said', () => {
    assert.deepEqual(probe({}), { dropped: false, child: 'unset' })
  })
})
