import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { cp, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { packedDataPath } from '../../src/core/packed.js'
import { chunkFileName } from '../../src/core/store.js'
import { onCleanup } from '../helpers/cleanup.js'
import { BIN, runBin } from '../helpers/cli.js'
import { fakeAnnouncer, fakeId } from '../helpers/fake-announcer.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { BROADCAST, downloadArgs, freeUdpPort, runDownload, split, startSeeder } from '../helpers/swarm.js'
import { makeTree } from '../helpers/tree-files.js'

/** FAULTS.md cases about peers that stall, the downloader's own machine, names and clocks (see docs/reliability.md). */

const MiB = 1024 * 1024
/** Whether this machine lets us mount a small tmpfs (root, and not forbidden by a container). */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false
  const dir = mkdtempSync(join(tmpdir(), 'p2p-mount-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' })
    execFileSync('umount', [dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
const mountable = canMount()

interface Receipt {
  resumedBytes: number
  fetchedBytes: number
  peers: Array<{ peer: string; bytes: number }>
}

async function seeded(t: Parameters<typeof tmpDir>[0], size: number, seeders = 1, name = 'f.bin') {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const sha = await randomFile(join(dir, name), size)
  const { id } = await split(join(dir, 's0'), join(dir, name))
  for (let i = 1; i < seeders; i++) {
    await cp(join(dir, 's0', 'chunks'), join(dir, `s${i}`, 'chunks'), { recursive: true })
    await rm(join(dir, `s${i}`, 'chunks', '.p2p', 'peer-id'), { force: true })
  }
  return { dir, udp, sha, id, name }
}

/** A small tmpfs mounted at `dir` (root only), unmounted at cleanup. */
async function tmpfs(t: Parameters<typeof tmpDir>[0], dir: string, options: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir])
  onCleanup(t, () => {
    execFileSync('umount', ['-l', dir])
  })
}

describe("faults: peers that stall, the downloader's machine, names, clocks", () => {
  it('case 2 · a seeder SIGSTOPped mid-download: its requests time out and go to the other seeder', async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 64 * MiB, 2)
    const a = await startSeeder(t, join(dir, 's0'), udp)
    await startSeeder(t, join(dir, 's1'), udp)
    a.serve.kill('SIGSTOP')
    onCleanup(t, () => {
      a.serve.kill('SIGCONT')
    })
    const r = await runDownload(join(dir, 'd'), udp, [name, '--request-timeout', '1', '--connect-timeout', '1'])
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name)), sha)
  })

  it('case 7 · killed between fsync and rename: nothing under the final name; the re-run finishes from the store', async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 8 * MiB)
    await startSeeder(t, join(dir, 's0'), udp)
    const child = spawn(process.execPath, [BIN('p2p-download'), name, ...downloadArgs(join(dir, 'd'), udp)], {
      stdio: 'ignore',
      env: { ...process.env, P2P_TEST_HOOK: 'kill-before-rename' },
    })
    const [, signal] = await once(child, 'exit')
    assert.equal(signal, 'SIGKILL')
    assert.deepEqual(
      (await readdir(join(dir, 'd', 'downloads'))).filter((f) => f === name),
      [],
    )
    const r = await runDownload(join(dir, 'd'), udp, [name])
    assert.equal(r.code, 0, r.log)
    assert.equal((r.result as unknown as Receipt).fetchedBytes, 0)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name)), sha)
    assert.deepEqual((await readdir(join(dir, 'd', 'downloads'))).sort(), [name])
  })

  it('case 8 · truncated or zero-filled chunks in the store are re-fetched (downloader) and never served (seeder)', async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 6 * MiB, 2)
    // The first seeder's chunk 1 is zero-filled on disk; the second is intact.
    await writeFile(join(dir, 's0', 'chunks', name, chunkFileName(1)), Buffer.alloc(MiB))
    await startSeeder(t, join(dir, 's0'), udp)
    await startSeeder(t, join(dir, 's1'), udp)
    const first = await runDownload(join(dir, 'd'), udp, [name, '--window', '1'])
    assert.equal(first.code, 0, first.log)
    // Now damage the downloader's own copy (its store's packed data) and run again: resume re-verifies.
    await rm(join(dir, 'd', 'downloads', name))
    const data = await open(packedDataPath(join(dir, 'd', 'chunks', name)), 'r+')
    await data.write(Buffer.from('torn'), 0, 4, 2 * MiB + 100)
    await data.write(Buffer.alloc(MiB), 0, MiB, 3 * MiB)
    await data.close()
    const again = await runDownload(join(dir, 'd'), udp, [name])
    assert.equal(again.code, 0, again.log)
    assert.equal((again.result as unknown as Receipt).resumedBytes, 4 * MiB) // the 4 intact chunks; the 2 damaged ones fetched again
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name)), sha)
  })

  it('downloads/ on another filesystem than the store: the final file is a copy (no hard link across devices)', {
    skip: !mountable && 'needs root and mount(8) for a small tmpfs',
  }, async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 6 * MiB + 7)
    await startSeeder(t, join(dir, 's0'), udp)
    await tmpfs(t, join(dir, 'd', 'downloads'), 'size=16m')
    const r = await runDownload(join(dir, 'd'), udp, [name])
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name)), sha)
    assert.equal(
      await sha256File(packedDataPath(join(dir, 'd', 'chunks', name))),
      sha,
      'the store keeps its own copy to seed',
    )
    assert.deepEqual(await readdir(join(dir, 'd', 'downloads')), [name], 'no .part left')
  })

  it('case 9 · disk full: one line, exit 6 (E_NO_SPACE), no final file', {
    skip: !mountable && 'needs root and mount(8) for a small tmpfs',
  }, async (t) => {
    const { dir, udp, name } = await seeded(t, 8 * MiB)
    await startSeeder(t, join(dir, 's0'), udp)
    await tmpfs(t, join(dir, 'small'), 'size=4m')
    const r = await runDownload(join(dir, 'small'), udp, [name])
    assert.equal(r.code, 6, r.log)
    assert.equal((r.result as { code?: string }).code, 'E_NO_SPACE')
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.ok(!(await readdir(join(dir, 'small', 'downloads')).catch(() => [] as string[])).includes(name))
  })

  it('case 9 · a folder whose chunks and copy do not both fit on one filesystem: E_NO_SPACE before any chunk is fetched', {
    skip: !mountable && 'needs root and mount(8) for a small tmpfs',
  }, async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await makeTree(join(dir, 'src', 'album'), { 'a.bin': 3 * MiB, 'b.bin': 3 * MiB })
    await split(join(dir, 's0'), join(dir, 'src', 'album'))
    await startSeeder(t, join(dir, 's0'), udp)
    await tmpfs(t, join(dir, 'small'), 'size=10m') // room for 6 MiB of chunks, not for them and a 6 MiB copy
    const r = await runDownload(join(dir, 'small'), udp, ['album'])
    assert.equal(r.code, 6, r.log)
    const result = r.result as { code?: string; message?: string }
    assert.equal(result.code, 'E_NO_SPACE')
    assert.match(
      result.message ?? '',
      /and its copy/,
      'refused up front (after the chunks, the copy failed the same way)',
    )
  })

  it('case 9 · a folder of many tiny files: each takes a block in the store and in its copy, reckoned before any chunk is fetched', {
    skip: !mountable && 'needs root and mount(8) for a small tmpfs',
  }, async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const spec = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`f${i}.txt`, 'x']))
    await makeTree(join(dir, 'src', 'tiny'), spec)
    await split(join(dir, 's0'), join(dir, 'src', 'tiny'))
    await startSeeder(t, join(dir, 's0'), udp)
    await tmpfs(t, join(dir, 'small'), 'size=12m') // 2,000 blocks of 4 KiB fit; twice that does not
    const r = await runDownload(join(dir, 'small'), udp, ['tiny'])
    assert.equal(r.code, 6, r.log)
    const result = r.result as { code?: string; message?: string }
    assert.equal(result.code, 'E_NO_SPACE')
    assert.match(result.message ?? '', /and its copy/, 'refused up front (2 KB of bytes had been reckoned)')
    // Empty files take no block: 1,000 of them fit a 4 MiB tmpfs (a block more per file had them refused).
    await makeTree(join(dir, 'src', 'empty'), Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`e${i}`, ''])))
    await split(join(dir, 's0'), join(dir, 'src', 'empty'))
    await tmpfs(t, join(dir, 'tiny'), 'size=4m')
    const empty = await runDownload(join(dir, 'tiny'), udp, ['empty'])
    assert.equal(empty.code, 0, empty.log)
  })

  it('case 10 · a read-only downloads directory fails before any network traffic', {
    skip: !mountable && 'needs root and mount(8) for a read-only tmpfs',
  }, async (t) => {
    const { dir, udp, name } = await seeded(t, 1 * MiB)
    const seeder = await startSeeder(t, join(dir, 's0'), udp)
    await tmpfs(t, join(dir, 'ro'), 'ro,size=1m')
    const r = await runDownload(join(dir, 'd'), udp, [name, '--downloads-dir', join(dir, 'ro')])
    assert.equal(r.code, 6, r.log)
    assert.match(r.stderr, /downloads directory/)
    await seeder.serve.stop()
    assert.ok(
      !(await readFile(join(dir, 's0', 'logs', 'serve.log'), 'utf8')).includes('"msg":"connection"'),
      'no connection reached the seeder',
    )
  })

  it('case 11 · an existing different file of that name is kept; the new one is saved as "name (1)"', async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 100_000)
    await startSeeder(t, join(dir, 's0'), udp)
    await mkdir(join(dir, 'd', 'downloads'), { recursive: true })
    await writeFile(join(dir, 'd', 'downloads', name), 'mine, do not touch')
    const r = await runDownload(join(dir, 'd'), udp, [name])
    assert.equal(r.code, 0, r.log)
    assert.equal(await readFile(join(dir, 'd', 'downloads', name), 'utf8'), 'mine, do not touch')
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'f (1).bin')), sha)
  })

  it('case 12 · two downloaders of one file into the same directories: one is refused (exit 7), the file is identical', async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 64 * MiB)
    await startSeeder(t, join(dir, 's0'), udp)
    const [a, b] = await Promise.all([
      runDownload(join(dir, 'd'), udp, [name]),
      runDownload(join(dir, 'd'), udp, [name]),
    ])
    const codes = [a.code, b.code].sort()
    assert.ok(codes[0] === 0 && (codes[1] === 0 || codes[1] === 7), `exit codes ${codes}`)
    if (codes[1] === 7) assert.equal(([a, b].find((x) => x.code === 7)!.result as { code?: string }).code, 'E_LOCKED')
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name)), sha)
  })

  it('cases 13–15 · names with "..", separators, control characters or invalid forms are refused before any filesystem call', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await writeFile(join(dir, 'canary'), 'canary')
    // (NUL cannot be passed in argv at all; the name unit tests cover it.)
    for (const bad of [
      '..',
      '../canary',
      'a/../../canary',
      '.',
      '/etc/passwd',
      '..\\..\\x',
      'tab\there',
      'bell\u0007',
    ]) {
      const r = await runDownload(join(dir, 'd'), udp, [bad, '--wait', '0.2'])
      assert.equal(r.code, 2, `${JSON.stringify(bad)}: ${r.stderr}`)
      assert.equal((r.result as { code?: string }).code, 'E_BAD_NAME')
    }
    assert.equal(await readFile(join(dir, 'canary'), 'utf8'), 'canary')
  })

  it('case 28 · our own announcements echoed back are not a peer', async (t) => {
    const { dir, udp, sha, name } = await seeded(t, 4 * MiB)
    await startSeeder(t, join(dir, 's0'), udp)
    // The downloader's own store is served and announced too (a seeder that downloads).
    await mkdir(join(dir, 'd', 'chunks'), { recursive: true })
    const self = await startSeeder(t, join(dir, 'd'), udp)
    const r = await runDownload(join(dir, 'd'), udp, [name])
    assert.equal(r.code, 0, r.log)
    assert.ok(!(r.result as unknown as Receipt).peers.some((p) => p.peer.endsWith(`:${self.port}`)), 'never itself')
    assert.equal(await sha256File(join(dir, 'd', 'downloads', name)), sha)
  })

  it('case 31 · a wall-clock jump of a day on the listener does not expire peers', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    // Date.now jumps one day ahead when the test sends SIGUSR2 (performance.now does not).
    const shim = `data:text/javascript,${encodeURIComponent("const real = Date.now; let jump = 0; process.on('SIGUSR2', () => { jump = 864e5 }); Date.now = () => real() + jump")}`
    const dictionary = join(dir, 'dict.json')
    const child = spawn(
      process.execPath,
      [
        '--import',
        shim,
        BIN('p2p-listen'),
        '--dictionary',
        dictionary,
        '--stale-after',
        '30',
        '--udp-port',
        String(udp),
        '--broadcast',
        BROADCAST,
        '--logs-dir',
        join(dir, 'logs'),
      ],
      { stdio: 'ignore' },
    )
    onCleanup(t, () => {
      child.kill('SIGKILL')
    })
    const fileCount = async () => {
      const text = await readFile(dictionary, 'utf8').catch(() => '')
      return text ? Object.keys((JSON.parse(text) as { files: object }).files).length : 0
    }
    // A peer announces until the listener shows it, then falls silent: only the listener's clock can keep or expire it now.
    const peer = await fakeAnnouncer(t, udp)
    for (const deadline = Date.now() + 30_000; (await fileCount()) === 0; ) {
      assert.ok(Date.now() < deadline, 'the listener heard the peer within 30 s')
      await peer.announce('silent-peer', 7001, [{ id: fakeId(1), name: 'x', size: 100 }])
      await new Promise((r) => setTimeout(r, 100))
    }
    child.kill('SIGUSR2')
    // Watch across three of the listener's expiry sweeps (one a second with --stale-after 30): a wall-clock expiry shows within the first.
    let seen = 0
    let missing = 0
    for (const end = Date.now() + 3500; Date.now() < end; ) {
      if ((await fileCount()) > 0) seen++
      else missing++
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(seen > 10, `seen ${seen}`)
    assert.equal(missing, 0, 'the peer never disappeared')
    const bad = await runBin('p2p-listen', ['--stale-after', '-1'])
    assert.equal(bad.code, 2)
  })
})
