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
// The timeout bounds a hang, never speed: it applies to each file as a whole, and a file of ten real-process
// downloads that takes 100 s on a quiet machine took over 240 s at load 15 on 2 cores. Every test inside keeps its
// own, tighter bounds (deadlines from the product's settings).
const FILE_TIMEOUT_MS = 600_000
// Every test starts commands as processes: without NODE_EXTRA_CA_CERTS (set on the CI machines, and read by Node at
// each start, ~37 ms of CPU a process), as no test uses TLS.
const { NODE_EXTRA_CA_CERTS: _unused, ...env } = process.env
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', `--test-timeout=${FILE_TIMEOUT_MS}`, ...extra, ...layers],
  { stdio: 'inherit', env },
)
process.exit(r.status ?? 1)
