import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { onCleanup } from '../helpers/cleanup.js'
import { BIN } from '../helpers/cli.js'
import { readDictionary, type Snapshot, until } from '../helpers/dictionary.js'
import { fakeAnnouncer, fakeId } from '../helpers/fake-announcer.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, split, startDaemon, storeArgs } from '../helpers/swarm.js'

describe('p2p-announce and p2p-listen (processes)', () => {
  it('stops cleanly, as on SIGTERM, when the reader of its output goes away (| head -1): goodbye sent, exit 0, no stack trace', async (t) => {
    const dir = await tmpDir(t)
    await randomFile(join(dir, 'x.bin'), 5000)
    await split(dir, join(dir, 'x.bin'))
    const udp = await freeUdpPort()
    const child = spawn(
      process.execPath,
      [
        BIN('p2p-announce'),
        '--json',
        '--interval',
        '0.1',
        '--port',
        '6003',
        '--udp-port',
        String(udp),
        '--broadcast',
        BROADCAST,
        ...storeArgs(dir),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    onCleanup(t, () => {
      child.kill('SIGKILL')
    })
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    await once(child.stdout, 'data')
    child.stdout.destroy() // as `head -1` does after its line
    const [code] = await Promise.race([
      once(child, 'exit'),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('still running 5 s after its reader left')), 5000),
      ),
    ])
    assert.equal(code, 0, stderr)
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
    assert.match(await readFile(join(dir, 'logs', 'announce.log'), 'utf8'), /goodbye sent/)
  })

  it('--help into a reader that is already gone (| head) exits 0 without a stack trace', async () => {
    for (const command of ['p2p-announce', 'p2p-serve', 'p2p']) {
      const child = spawn(process.execPath, [BIN(command), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout.destroy() // gone before the first line
      let stderr = ''
      child.stderr.on('data', (d) => {
        stderr += d
      })
      const [code] = await once(child, 'exit')
      assert.equal(code, 0, `${command}: ${stderr}`)
      assert.doesNotMatch(stderr, /\n\s+at |EPIPE/, `${command}: no stack trace`)
    }
  })

  it('a listener started after the announcers learns both within a second of its query, with correct have-sets; goodbye removes one', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    for (const [store, name, size] of [
      ['a', 'alpha.bin', 50_000],
      ['b', 'beta.bin', 9000],
    ] as const) {
      await randomFile(join(dir, name), size)
      await split(join(dir, store), join(dir, name), ['--chunk-size', '4KiB'])
    }
    const disc = ['--udp-port', String(udp), '--broadcast', BROADCAST]
    const a = startDaemon(t, 'p2p-announce', [
      '--json',
      '--port',
      '6001',
      '--interval',
      '60',
      ...disc,
      ...storeArgs(join(dir, 'a')),
    ])
    const b = startDaemon(t, 'p2p-announce', [
      '--json',
      '--port',
      '6002',
      '--interval',
      '60',
      ...disc,
      ...storeArgs(join(dir, 'b')),
    ])
    await Promise.all([a.firstLine, b.firstLine]) // their start-up bursts are out (one line each); the interval is 60 s: only the query brings them now
    const dictionary = join(dir, 'dictionary.json')
    const started = Date.now()
    startDaemon(t, 'p2p-listen', [
      '--dictionary',
      dictionary,
      '--stale-after',
      '30',
      ...disc,
      '--logs-dir',
      join(dir, 'logs'),
    ])
    const snapshot = await until(
      () => readDictionary(dictionary),
      (s) => Object.keys(s.files).length === 2,
      10_000,
    )
    t.diagnostic(`both peers known ${Date.now() - started} ms after p2p-listen started (process start included)`)
    const alpha = Object.values(snapshot.files).find((f) => f.name === 'alpha.bin')!
    assert.equal(alpha.chunks, 13)
    assert.deepEqual(
      alpha.peers.map((p) => [p.address, p.port, p.have]),
      [['127.0.0.1', 6001, 'all']],
    )
    assert.equal(await b.stop(), 0)
    await until(
      () => readDictionary(dictionary),
      (s) => Object.keys(s.files).length === 1,
      5000,
    )
  })

  it('keeps the dictionary file valid JSON at every moment while it is rewritten under load', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const stores = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const store = new ChunkStore(join(dir, `s${i}`, 'chunks'))
        await store.init()
        return store
      }),
    )
    for (let i = 0; i < 30; i++) {
      await randomFile(join(dir, `f${i}`), 100)
      await splitFile(join(dir, `f${i}`), { store: stores[i % 3]!, chunkSize: 4096 }) // in this process: 30 runs of p2p-split take half a minute on a loaded machine
    }
    const disc = ['--udp-port', String(udp), '--broadcast', BROADCAST]
    const dictionary = join(dir, 'dictionary.json')
    // Nothing expires during the test whatever the load (--stale-after 60); the announcers keep datagrams flowing.
    startDaemon(t, 'p2p-listen', [
      '--dictionary',
      dictionary,
      '--stale-after',
      '60',
      ...disc,
      '--logs-dir',
      join(dir, 'logs'),
    ])
    for (let i = 0; i < 3; i++)
      startDaemon(t, 'p2p-announce', [
        '--port',
        String(7000 + i),
        '--interval',
        '0.05',
        '--min-burst-gap',
        '0.05',
        ...disc,
        ...storeArgs(join(dir, `s${i}`)),
      ])
    // The rewrites come from a peer whose have-set grows by one chunk each time the test sees the file rewritten.
    const flapper = await fakeAnnouncer(t, udp)
    const have = new Bitfield(64)
    const flap = () =>
      flapper.announce('flapper-peer', 7100, [{ id: fakeId(1), name: 'flapping.bin', size: 64 << 20, have }])
    await flap()
    let reads = 0
    let rewrites = 0
    let sawFiles = 0
    let last = ''
    const deadline = Date.now() + 60_000
    while (sawFiles < 31 || rewrites < 40) {
      assert.ok(
        Date.now() < deadline,
        `within 60 s: ${rewrites} rewrites seen, at most ${sawFiles} files at once (want 40 and 31)`,
      )
      const text = await readFile(dictionary, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return ''
        throw err
      })
      if (!text) continue
      const snapshot = JSON.parse(text) as { files: object } // throws on a torn or partial file
      reads++
      sawFiles = Math.max(sawFiles, Object.keys(snapshot.files).length)
      if (text === last) continue
      last = text
      rewrites++
      have.set(Math.min(63, rewrites))
      await flap()
    }
    t.diagnostic(`${reads} reads of ${rewrites} versions of the file`)
    assert.ok(reads > 50, `${reads} reads`)
    assert.equal(sawFiles, 31, 'the 30 files of the three announcers and the flapping one')
  })

  it('p2p-listen --json prints the dictionary on change, and it and p2p-announce one object as they stop; bad settings exit 2', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await randomFile(join(dir, 'x'), 10)
    await split(join(dir, 'a'), join(dir, 'x'))
    const disc = ['--udp-port', String(udp), '--broadcast', BROADCAST]
    const listen = startDaemon(t, 'p2p-listen', [
      '--json',
      '--dictionary',
      join(dir, 'd.json'),
      ...disc,
      '--logs-dir',
      join(dir, 'logs'),
    ])
    const first = (await listen.firstLine) as unknown as Snapshot
    assert.ok('updatedAt' in first && 'files' in first)
    const announce = startDaemon(t, 'p2p-announce', ['--json', ...disc, ...storeArgs(join(dir, 'a'))])
    await announce.firstLine
    // Each ends its --json with one object as it stops, as serve and share do (they printed nothing before).
    for (const daemon of [announce, listen]) {
      assert.equal(await daemon.stop(), 0)
      const last = JSON.parse(daemon.stdout().trim().split('\n').at(-1)!) as {
        ok: boolean
        stopped: boolean
        stats: object
      }
      assert.deepEqual([last.ok, last.stopped, typeof last.stats], [true, true, 'object'])
    }
    const { runBin } = await import('../helpers/cli.js')
    const bad = await runBin('p2p-announce', [
      '--udp-port',
      '70000',
      '--broadcast',
      BROADCAST,
      ...storeArgs(join(dir, 'a')),
    ])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /udp-port/)
    // A server's "any free port", announced, is a port no one can connect to.
    const anyPort = await runBin('p2p-announce', ['--port', '0', ...disc, ...storeArgs(join(dir, 'a'))])
    assert.equal(anyPort.code, 2, anyPort.stderr)
    assert.match(anyPort.stderr, /--port 0: .*\[E_USAGE\]/)
    const badBroadcast = await runBin('p2p-listen', ['--broadcast', 'not-an-address', '--udp-port', String(udp)])
    assert.equal(badBroadcast.code, 2)
    // A port another program holds without sharing it: what to change, as for TCP.
    const holder = createSocket({ type: 'udp4', reuseAddr: false })
    await new Promise<void>((resolve) => holder.bind(0, '0.0.0.0', resolve))
    t.after(() => holder.close())
    const held = await runBin('p2p-listen', ['--udp-port', String(holder.address().port), '--broadcast', BROADCAST])
    assert.equal(held.code, 2, held.stderr)
    assert.match(held.stderr, /cannot listen on UDP .*EADDRINUSE \(another program holds it .*--udp-port\) \[E_USAGE\]/)
  })
})
