#!/usr/bin/env node
// Runs every test layer on the compiled tests (dist/test). The netns layer
// needs root, iproute2 (`ip netns`, `tc`) and the right to create network
// namespaces; without them it prints one SKIP line and runs the rest.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { netnsAvailable } from '../dist/test/netns/harness.js'

const layers = ['unit', 'integration', 'cli'].map((l) => `dist/test/${l}`).filter((d) => existsSync(d))
const problem = netnsAvailable()
if (problem) console.log(`SKIP netns tests (several hosts in network namespaces): ${problem}`)
else layers.push('dist/test/netns')
const extra = process.argv.slice(2)
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=240000', ...extra, ...layers],
  { stdio: 'inherit' },
)
process.exit(r.status ?? 1)
