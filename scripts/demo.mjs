#!/usr/bin/env node
// The README's main job, on this machine only (loopback). Replaced by the full
// seeders → downloader demo once p2p-download lands.
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const work = join(root, 'demo-run')
mkdirSync(work, { recursive: true })
const sample = join(work, 'sample.bin')
const data = randomBytes(8 << 20)
writeFileSync(sample, data)
console.log(`demo: generated ${sample} (8 MiB, sha256 ${createHash('sha256').update(data).digest('hex').slice(0, 16)}…)`)
const r = spawnSync(process.execPath, [join(root, 'bin/p2p-split'), sample, '--chunks-dir', join(work, 'chunks'), '--logs-dir', join(work, 'logs')], { stdio: 'inherit' })
console.log('demo: stops after splitting — announce, serve, listen and download are not built yet')
process.exit(r.status ?? 1)
