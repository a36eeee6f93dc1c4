import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/core/constants.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { fakeAnnouncer } from '../helpers/fake-announcer.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { type Misbehaviour, startLiar } from '../helpers/liar.js'
import { peakRssProbe } from '../helpers/peak-rss-probe.js'
import { downloadArgs, freeUdpPort, split, startSeeder } from '../helpers/swarm.js'

/**
 * Several hostile peers in the swarm from the start, beside one honest
 * seeder (FAULTS.md cases 38 and 40): the download comes out identical,
 * costs about the memory and time it costs without them, and the liars are
 * banned while the silent ones are merely left alone.
 */

interface Receipt {
  seconds: number
  peers: Array<{ peer: string; bytes: number; chunks: number; banned?: string }>
}

const MiB = 1024 * 1024

async function swarm(t: Cleanup, size = 4 * MiB) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const sha = await randomFile(join(dir, 'target.bin'), size)
  const { id } = await split(join(dir, 'honest'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
  const honest = await startSeeder(t, join(dir, 'honest'), udp)
  let runs = 0
  /** One p2p-download into a fresh directory: its result, receipt, wall time, peak RSS and log. */
  /** `whileRunning` gets the run's log path and its end, and runs beside it. */
  const download = async (
    extra: string[] = [],
    whileRunning?: (logPath: string, ended: Promise<unknown>) => Promise<void>,
  ) => {
    const d = join(dir, `d${runs++}`)
    const peakRss = peakRssProbe(join(dir, `rss-${runs}`))
    const logPath = join(d, 'logs', 'download.log')
    const started = performance.now()
    const running = runBin('p2p-download', downloadArgs(d, udp, ['target.bin', ...extra]), {
      timeoutMs: 120_000,
      env: peakRss.env,
    })
    await whileRunning?.(logPath, running)
    const r = await running
    const ms = performance.now() - started
    const log = await readFile(logPath, 'utf8').catch(() => '')
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const receipt = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as Receipt
    const output = r.code === 0 ? await sha256File(join(d, 'downloads', 'target.bin')) : undefined
    return {
      code: r.code,
      stderr: r.stderr,
      ms,
      peakRss: await peakRss.read(),
      receipt,
      lines,
      output,
      tail: log.split('\n').slice(-10).join('\n'),
    }
  }
  const liars = async (modes: Misbehaviour[]) =>
    Promise.all(
      modes.map((mode) => startLiar(t, { udpPort: udp, storeDir: join(dir, 'honest'), name: 'target.bin', id, mode })),
    )
  return { dir, udp, sha, id, honest, download, liars }
}

const peerOf = (receipt: Receipt, port: number) => receipt.peers.find((p) => p.peer.endsWith(`:${port}`))

/** Resolves when the JSON-lines log at `path` holds a line matching `wanted`; rejects if `ended` settles first or after 60 s. */
async function logLine(path: string, wanted: (line: Record<string, unknown>) => boolean, ended: Promise<unknown>) {
  let over = false
  const stop = ended.then(
    () => {
      over = true
    },
    () => {
      over = true
    },
  )
  const deadline = Date.now() + 60_000
  while (!over && Date.now() < deadline) {
    const text = await readFile(path, 'utf8').catch(() => '')
    const complete = text.slice(0, text.lastIndexOf('\n') + 1) // the last line may be half written
    for (const line of complete.split('\n')) {
      if (line && wanted(JSON.parse(line) as Record<string, unknown>)) return
    }
    await Promise.race([stop, new Promise((r) => setTimeout(r, 100))])
  }
  const tail = (await readFile(path, 'utf8').catch(() => '')).split('\n').slice(-8).join('\n')
  throw new Error(`${over ? 'the run ended before its log showed the line' : 'no such line within 60 s'}:\n${tail}`)
}

describe('a swarm with hostile peers beside one honest seeder', () => {
  it('case 38 · peers declaring wrong body sizes cannot inflate the downloader: peak RSS stays near the honest figure, liars banned', async (t) => {
    const s = await swarm(t)
    const honestRun = await s.download()
    assert.equal(honestRun.code, 0, honestRun.tail)
    assert.equal(honestRun.output, s.sha)
    const liars = await s.liars(['oversize', 'oversize', 'oversize', 'undersize'])
    // The honest seeder is paused until the downloader has banned a liar, so the liars are asked whatever the
    // machine's load (a fast honest seeder could otherwise deliver every chunk before any liar is tried).
    const honestServe = s.honest.serve.child
    honestServe.kill('SIGSTOP')
    const run = await s.download([], async (logPath, ended) => {
      try {
        await logLine(logPath, (l) => l.banned === true || l.msg === 'peer banned', ended)
      } finally {
        honestServe.kill('SIGCONT')
      }
    })
    assert.equal(run.code, 0, run.tail)
    assert.equal(run.output, s.sha)
    for (const liar of liars) {
      const p = peerOf(run.receipt, liar.port)
      if (p === undefined) continue // never reached before the honest seeder finished
      assert.equal(p.bytes, 0, JSON.stringify(p))
    }
    assert.ok(
      liars.some((l) => peerOf(run.receipt, l.port)?.banned !== undefined),
      JSON.stringify(run.receipt.peers),
    )
    assert.equal(peerOf(run.receipt, s.honest.port)?.bytes, 4 * MiB)
    // Without the fix each oversize claim held 60 MiB (and the pool kept one per distinct size).
    const bound = honestRun.peakRss + 48 * MiB
    assert.ok(
      run.peakRss <= bound,
      `peak RSS with liars ${(run.peakRss / MiB).toFixed(0)} MiB, honest ${(honestRun.peakRss / MiB).toFixed(0)} MiB`,
    )
    console.log(
      `# peak RSS: honest ${(honestRun.peakRss / MiB).toFixed(1)} MiB, with 4 size liars ${(run.peakRss / MiB).toFixed(1)} MiB`,
    )
  })

  it('case 40 · four silent peers: the manifest comes from the honest seeder at once, the download takes about as long as without them', async (t) => {
    const s = await swarm(t)
    const honestRun = await s.download()
    assert.equal(honestRun.code, 0, honestRun.tail)
    const silent = await s.liars(['silent', 'silent', 'silent', 'silent'])
    const run = await s.download()
    assert.equal(run.code, 0, run.tail)
    assert.equal(run.output, s.sha)
    const manifest = run.lines.find((l) => l.msg === 'manifest received')
    assert.ok(manifest, run.tail)
    assert.ok(String(manifest.peer).endsWith(`:${s.honest.port}`), JSON.stringify(manifest))
    // Bounds from the product's own timeout, not from this machine's speed: waiting on a silent peer costs a
    // request timeout (30 s; before the fix, one after another), the hedged race costs under a second.
    const patience = DEFAULT_REQUEST_TIMEOUT_MS / 6
    assert.ok(Number(manifest.ms) < patience, `manifest after ${String(manifest.ms)} ms`)
    for (const liar of silent) {
      const p = peerOf(run.receipt, liar.port)
      assert.equal(p?.bytes ?? 0, 0)
      assert.equal(p?.banned, undefined, 'silence is not a lie')
    }
    assert.equal(peerOf(run.receipt, s.honest.port)?.bytes, 4 * MiB)
    // Silent peers may cost their first deadline, never a request timeout.
    assert.ok(
      run.ms < honestRun.ms + patience,
      `with silent peers ${run.ms.toFixed(0)} ms, honest only ${honestRun.ms.toFixed(0)} ms`,
    )
    console.log(`# wall time: honest ${honestRun.ms.toFixed(0)} ms, with 4 silent peers ${run.ms.toFixed(0)} ms`)
  })

  it('a stranger announcing the file as ever new downloads (chunk-share.ts) cannot stop or corrupt it: an order, never a wait', async (t) => {
    const s = await swarm(t)
    const stranger = await fakeAnnouncer(t, s.udp)
    let sent = 0
    const run = await s.download([], async (_log, ended) => {
      let over = false
      void ended.finally(() => {
        over = true
      })
      // A new peer ID every 20 ms, for as long as the download runs (at most 60 s): the group of downloads
      // the file is split among changes all the time.
      const deadline = Date.now() + 60_000
      while (!over && Date.now() < deadline) {
        const peer = `stranger-${String(sent++).padStart(6, '0')}`
        const have = new Bitfield(64) // nothing, or every other chunk (a claim its closed port never backs)
        if (sent % 2) for (let i = sent % 4 === 1 ? 0 : 1; i < 64; i += 2) have.set(i)
        await stranger.announce(peer, 1, [{ id: s.id, name: 'target.bin', size: 4 * MiB, have }])
        await new Promise((r) => setTimeout(r, 20))
      }
    })
    assert.equal(run.code, 0, run.tail)
    assert.equal(run.output, s.sha)
    assert.equal(peerOf(run.receipt, s.honest.port)?.bytes, 4 * MiB)
    assert.ok(sent > 0)
    console.log(`# ${sent} announcements of new downloads during the download, ${run.ms.toFixed(0)} ms`)
  })
})
