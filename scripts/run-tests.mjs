#!/usr/bin/env node
// Runs every test layer on the compiled tests (dist/test). The netns layer
// needs root and `ip netns`; without them it prints one SKIP line.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const layers = ['unit', 'integration', 'cli', 'netns'].map((l) => `dist/test/${l}`).filter((d) => existsSync(d))
const extra = process.argv.slice(2)
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...extra, ...layers], { stdio: 'inherit' })
process.exit(r.status ?? 1)
