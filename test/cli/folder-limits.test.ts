import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { EMPTY_SHA256, MAX_TREE_PATH_BYTES } from '../../src/core/tree-manifest.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { BIN, runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'
import { startManifestPeer } from '../helpers/manifest-peer.js'
import { peakRssProbe } from '../helpers/peak-rss-probe.js'
import { downloadArgs, freeUdpPort, runDownload } from '../helpers/swarm.js'

// The test peer speaks the plain protocol; what is under test is the downloader's side.
const PLAIN = ['--transport', 'plain']

/** Canonical version-2 bytes with these entries (the id is their hash). */
function folderBytes(name: string, entries: unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ version: 2, name, chunkSize: 16384, entries }))
}

const emptyFile = (path: string) => ({ path, size: 0, chunks: [], sha256: EMPTY_SHA256 })

const MB = 1e6

describe('folder limits: large trees and long paths (real processes)', () => {
  it('Ctrl-C while 60,000 empty files are made exits 130 with E_INTERRUPTED at once; a re-run completes', async (t) => {
    const base = await tmpDir(t)
    const udp = await freeUdpPort()
    const entries = Array.from({ length: 60_000 }, (_, i) => emptyFile(`e${String(i).padStart(5, '0')}`))
    const peer = await startManifestPeer(t, {
      udpPort: udp,
      bytes: folderBytes('empties', entries),
      name: 'empties',
      size: 0,
      chunks: 0,
    })
    const d = join(base, 'd')
    const args = downloadArgs(d, udp, [...PLAIN, '--id', peer.id, '--wait', '10'])
    const child = spawn(process.execPath, [BIN('p2p-download'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    onCleanup(t as Cleanup, () => {
      child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const exited = once(child, 'exit')
    // Event-driven: the temporary tree exists and is being filled.
    for (const deadline = Date.now() + 60_000; ; ) {
      const names = await readdir(join(d, 'downloads')).catch(() => [] as string[])
      const part = names.find((n) => n.startsWith('empties.part-'))
      if (part !== undefined && (await readdir(join(d, 'downloads', part)).catch(() => [])).length >= 256) break
      assert.ok(Date.now() < deadline, 'the temporary tree filled within 60 s')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const signalled = performance.now()
    child.kill('SIGINT')
    const [code] = (await exited) as [number | null]
    const seconds = (performance.now() - signalled) / 1000
    assert.equal(code, 130, `${stderr}\n${stdout}`)
    assert.match(`${stdout}${stderr}`, /E_INTERRUPTED/)
    assert.deepEqual(
      await readdir(join(d, 'downloads')),
      [],
      `nothing placed, the temporary tree removed (${seconds} s)`,
    )
    const again = await runDownload(d, udp, [...PLAIN, '--id', peer.id, '--wait', '10'])
    assert.equal(again.code, 0, `${again.stderr}\n${again.log}`)
    assert.equal((await readdir(join(d, 'downloads', 'empties'))).length, 60_000)
  })

  it('the worst folder accepted (100,000 entries, 8 MiB of paths) downloads in bounded memory', async (t) => {
    const base = await tmpDir(t)
    const udp = await freeUdpPort()
    // 100,000 directories of 83-byte names: 8.3 MB of paths (the limit is 8 MiB), a 10.8 MB manifest.
    const entries = Array.from({ length: 100_000 }, (_, i) => ({
      path: `${String(i).padStart(6, '0')}${'n'.repeat(77)}`,
      type: 'dir',
    }))
    assert.ok(entries.length * 83 <= MAX_TREE_PATH_BYTES)
    const peer = await startManifestPeer(t, {
      udpPort: udp,
      bytes: folderBytes('widest', entries),
      name: 'widest',
      size: 0,
      chunks: 0,
    })
    const d = join(base, 'd')
    const peakRss = peakRssProbe(join(base, 'peak-rss'))
    const r = await runBin('p2p-download', downloadArgs(d, udp, [...PLAIN, '--id', peer.id, '--wait', '10']), {
      timeoutMs: 300_000,
      env: peakRss.env,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await readdir(join(d, 'downloads', 'widest'))).length, 100_000)
    // Measured 2026-11-30: 233 MB before the manifest was read straight into its entries, not parsed twice,
    // and the temporary tree's table made compact; ~157 MB after (docs/benchmarks.md, folders).
    const peak = await peakRss.read()
    t.diagnostic(`peak RSS ${(peak / MB).toFixed(1)} MB`)
    assert.ok(peak < 190 * MB, `peak RSS ${(peak / MB).toFixed(1)} MB`)
  })

  it('refuses, before the download starts, a path that fits 4,096 bytes but not under downloads/NAME/, naming it and the room', async (t) => {
    const base = await tmpDir(t)
    const udp = await freeUdpPort()
    // 16 levels of 255-byte components: 4,095 bytes, a valid manifest path.
    const parts = Array.from({ length: 16 }, (_, i) => `${String.fromCharCode(97 + i)}${'x'.repeat(254)}`)
    const entries: unknown[] = parts.map((_, i) => ({ path: parts.slice(0, i + 1).join('/'), type: 'dir' }))
    entries.push(emptyFile('short'))
    const peer = await startManifestPeer(t, {
      udpPort: udp,
      bytes: folderBytes('deep', entries),
      name: 'deep',
      size: 0,
      chunks: 0,
    })
    const d = join(base, 'd')
    const r = await runDownload(d, udp, [...PLAIN, '--id', peer.id, '--wait', '10'])
    assert.equal(r.code, 1, `${r.stderr}\n${r.log}`)
    assert.equal((r.result as { code?: string }).code, 'E_TOO_LARGE')
    assert.match(r.stderr, /axxx.*bytes; under .* at most \d+ .*PATH_MAX/)
    assert.deepEqual(await readdir(join(d, 'downloads')).catch(() => []), [], 'nothing made in downloads/')
    // The paths that fit are still reachable with --only.
    const only = await runDownload(d, udp, [...PLAIN, '--id', peer.id, '--wait', '10', '--only', 'short'])
    assert.equal(only.code, 0, `${only.stderr}\n${only.log}`)
    assert.deepEqual(await readdir(join(d, 'downloads', 'deep')), ['short'])
  })
})
