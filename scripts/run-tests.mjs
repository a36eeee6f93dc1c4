#!/usr/bin/env node
// Runs every test layer on the compiled tests (dist/test). The netns layer
// needs root and iproute2 (`ip netns`, `tc`); without them it prints one SKIP
// line and runs the rest.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

function netnsProblem() {
  if (process.getuid?.() !== 0) return 'not running as root'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' })
    execFileSync('tc', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'iproute2 (ip netns, tc) not available'
  }
  const probe = `p2pt${process.pid}probe`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' })
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' })
  } catch {
    return 'network namespaces cannot be created here'
  }
  return undefined
}

const layers = ['unit', 'integration', 'cli'].map((l) => `dist/test/${l}`).filter((d) => existsSync(d))
const problem = netnsProblem()
if (problem) console.log(`SKIP netns tests (several hosts in network namespaces): ${problem}`)
else layers.push('dist/test/netns')
const extra = process.argv.slice(2)
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=240000', ...extra, ...layers], { stdio: 'inherit' })
process.exit(r.status ?? 1)
