import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ChunkStore } from '../../src/core/store.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { craftAnnouncement, startStranger } from '../helpers/stranger.js'
import { BROADCAST, freeUdpPort, runDownload, split, startDaemon, startSeeder } from '../helpers/swarm.js'

/**
 * Issue 14, findings 3 and 4 (FAULTS 38, 39), with the real commands: a
 * stranger's claims about an id or a name cannot steer or stop a download,
 * and a flood of huge claims cannot kill or bloat p2p-listen.
 */

const MAX = 1 << 24

describe('hostile claims against the real commands', () => {
  it('a stranger announcing the honest id under another name and his own file under the wanted name: p2p-download NAME exits E_AMBIGUOUS, nothing under the final name', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await randomFile(join(dir, 'wanted.bin'), 300_000)
    const { id } = await split(join(dir, 'seed'), join(dir, 'wanted.bin'))
    await startSeeder(t, join(dir, 'seed'), udp)
    const stranger = await startStranger(t, udp)
    const lie = craftAnnouncement('stranger1', 6666, [
      { id, name: 'other.bin', size: 300_000, chunks: 1 },
      { id: 'e'.repeat(64), name: 'wanted.bin', size: 1000, chunks: 1 },
    ])
    await stranger.answerQueries(lie)
    stranger.repeat(lie, 200)
    const r = await runDownload(join(dir, 'd'), udp, ['wanted.bin', '--wait', '5'])
    assert.equal(r.code, 2, `${r.stdout}\n${r.log}`)
    assert.equal(r.result?.code, 'E_AMBIGUOUS')
    assert.match(String(r.result?.message), /2 different files/)
    await assert.rejects(readFile(join(dir, 'd', 'downloads', 'wanted.bin')), { code: 'ENOENT' })
  })

  it('a stranger announcing the honest id with one chunk more (before the seeder, and on every query): --id still downloads from the honest seeder', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'x.bin'), 3 * 2 ** 20 + 5)
    const { id } = await split(join(dir, 'seed'), join(dir, 'x.bin'))
    const stranger = await startStranger(t, udp)
    const lie = craftAnnouncement('stranger1', 1, [{ id, name: 'x.bin', size: 3 * 2 ** 20 + 5, chunks: 5 }]) // 4 in truth; port 1 refuses
    await stranger.answerQueries(lie)
    stranger.repeat(lie, 200)
    await startSeeder(t, join(dir, 'seed'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '10'])
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${r.log}`)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'x.bin')), sha)
  })

  it("a download by name succeeds while a stranger floods: many ids and names, 2^24-chunk claims, slices at the far end, goodbyes for the seeder's port, its peer id", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'wanted.bin'), 2 * 2 ** 20 + 77)
    await split(join(dir, 'seed'), join(dir, 'wanted.bin'))
    const seederPeer = await new ChunkStore(join(dir, 'seed', 'chunks')).peerId() // made now, read by its p2p-announce
    const seeder = await startSeeder(t, join(dir, 'seed'), udp)
    const stranger = await startStranger(t, udp)
    let stop = false
    const flood = (async () => {
      for (let i = 0; i < 3000 && !stop; i++) {
        if (i % 40 === 0) await new Promise((r) => setTimeout(r, 10))
        const kind = i % 5
        const files =
          kind === 0
            ? Array.from({ length: 5 }, (_, k) => ({
                id: (i * 5 + k).toString(16).padStart(64, 'b'),
                name: `decoy-${i}-${k}.bin`,
                size: 4096,
                chunks: 1,
              }))
            : kind === 1
              ? Array.from({ length: 5 }, (_, k) => ({
                  id: (i * 5 + k).toString(16).padStart(64, 'c'),
                  name: `n${i}`,
                  size: MAX * 4096,
                  chunks: MAX,
                  have: '/w==',
                  from: MAX - 16,
                }))
              : kind === 2
                ? [] // a goodbye, for the seeder's port and with its peer id
                : [
                    {
                      id: (i % 97).toString(16).padStart(64, 'd'),
                      name: `x${i % 97}`,
                      size: 2 ** 30,
                      chunks: 2 ** 18,
                      have: 'AAAA',
                      from: 8 * (i % 32768),
                    },
                  ]
        await stranger.send(
          craftAnnouncement(
            kind === 2 || kind === 3 ? seederPeer : `flood${i % 16}xx`,
            kind === 2 ? seeder.port : 1 + (i % 16),
            files,
          ),
        )
      }
    })()
    const r = await runDownload(join(dir, 'd'), udp, ['wanted.bin', '--wait', '10'])
    stop = true
    await flood
    assert.equal(r.code, 0, `${r.stdout}\n${r.log}`)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'wanted.bin')), sha)
  })

  for (const forged of ['no chunk', 'a goodbye', 'another chunk count and then no chunk'] as const)
    it(`a stranger repeating the seeder's own announcement (its address, port and peer ID) with ${forged} every 20 ms: the download still takes the file from it, long before its next burst`, async (t) => {
      const dir = await tmpDir(t)
      const udp = await freeUdpPort()
      const size = 40 * 2 ** 20
      const sha = await randomFile(join(dir, 'movie.bin'), size)
      const { id } = await split(join(dir, 'seed'), join(dir, 'movie.bin'))
      // Its next burst 30 s away: the download hears its claim once (the answer to its query), then only the forgeries.
      const seeder = await startSeeder(t, join(dir, 'seed'), udp, { interval: 30 })
      const stranger = await startStranger(t, udp, '127.0.0.1') // the seeder's own address, any port
      const none = { id, name: 'movie.bin', size, chunks: 40, have: 'AAAAAAA=' }
      const lies = {
        'no chunk': [[none]],
        'a goodbye': [[]],
        // The first takes the seeder's claim's place where claims are replaced, the second then says "nothing".
        'another chunk count and then no chunk': [[{ ...none, size: size + 2 ** 20, chunks: 41 }], [none]],
      }[forged]
      const forge = (): void => {
        for (const files of lies)
          stranger.repeat(
            JSON.stringify({
              v: 1,
              type: 'announce',
              peer: seeder.peerId,
              transport: 'noise',
              port: seeder.port,
              files,
            }),
            20,
          )
      }
      // Every lie starts before the download (goodbyes forged before it had followed the seeder could hide it
      // until the forty-seventh session: its dictionary now heeds none).
      forge()
      const started = performance.now()
      const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '10'])
      const seconds = (performance.now() - started) / 1000
      t.diagnostic(`done in ${seconds.toFixed(1)} s`)
      assert.equal(r.code, 0, `${r.stdout}\n${r.log}`)
      assert.equal(await sha256File(join(dir, 'd', 'downloads', 'movie.bin')), sha)
      // Not a speed test: without the fix it waited for the seeder's next burst (repeated every 5 s, it took 30 s).
      assert.ok(seconds < 20, `took ${seconds} s`)
    })

  it('p2p-listen --json survives 1,000 datagrams each claiming 2^24 chunks, with bounded memory, and still lists the honest peer', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const listen = startDaemon(t, 'p2p-listen', [
      '--json',
      '--udp-port',
      String(udp),
      '--broadcast',
      BROADCAST,
      '--dictionary',
      join(dir, 'd.json'),
      '--logs-dir',
      join(dir, 'logs'),
    ])
    let stdout = ''
    let longest = 0
    listen.child.stdout!.on('data', (d: string) => {
      stdout = (stdout + d).slice(-200_000)
      for (const line of d.split('\n')) longest = Math.max(longest, line.length)
    })
    await listen.firstLine
    const baseline = peakRss(listen.child.pid!)
    const stranger = await startStranger(t, udp)
    for (let i = 0; i < 1000; i++) {
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5)) // bounded pace: the kernel would drop a burst, not the listener
      const files = Array.from({ length: 5 }, (_, k) => ({
        id: (i * 5 + k).toString(16).padStart(64, 'a'),
        name: `huge${i}-${k}`,
        size: MAX * 4096,
        chunks: MAX,
        have: k % 2 ? 'all' : 'AQ==',
        ...(k % 2 ? {} : { from: MAX - 8 }),
      }))
      await stranger.send(craftAnnouncement(`flood${String(i).padStart(4, '0')}`, 1 + (i % 100), files))
    }
    await randomFile(join(dir, 'honest.bin'), 5000)
    await split(join(dir, 'seed'), join(dir, 'honest.bin'))
    await startSeeder(t, join(dir, 'seed'), udp)
    const deadline = Date.now() + 15_000
    while (!stdout.includes('"honest.bin"')) {
      assert.ok(Date.now() < deadline, 'the honest peer never showed up in --json output')
      assert.equal(listen.child.exitCode, null, `p2p-listen stopped: ${listen.stderr()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    const peak = peakRss(listen.child.pid!)
    t.diagnostic(`peak RSS ${baseline} → ${peak} MiB; longest --json line ${longest} bytes`)
    assert.ok(peak - baseline < 64, `peak RSS grew from ${baseline} to ${peak} MiB`)
    assert.ok(longest <= 1024 * 1024)
    assert.equal(await listen.stop(), 0)
    const log = await readFile(join(dir, 'logs', 'listen.log'), 'utf8')
    assert.match(log, /allocation-rate|over-budget/, 'the flood was refused, and counted')
  })
})

/** Peak resident set size of a process, MiB (Linux: VmHWM). */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024)
}
