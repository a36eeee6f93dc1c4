import assert from 'node:assert/strict'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readDictionary, until } from '../helpers/dictionary.js'
import { mkfifo, randomFile, tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, runDownload, split, startDaemon, startSeeder } from '../helpers/swarm.js'

/**
 * Named and known peers on loopback, with real processes. The seeder
 * announces on UDP port A, the downloaders and the listener discover on port
 * B: their broadcasts reach nobody (a broadcast domain of their own), so only
 * the unicast paths can find the seeder — `--peer 127.0.0.1:A`, then the
 * known-peers file the first run wrote.
 */

interface Receipt {
  ok: boolean
  sha256: string
  peers: Array<{ peer: string; via: string; bytes: number }>
}

describe('named and known peers (processes on loopback)', () => {
  it('--peer finds a seeder broadcast cannot reach; the next run finds it again through known_peers.json; with neither, the download fails within --wait saying which paths it tried', async (t) => {
    const dir = await tmpDir(t)
    const seederPort = await freeUdpPort()
    const ourPort = await freeUdpPort()
    const sha = await randomFile(join(dir, 'far.bin'), 300_000)
    await split(join(dir, 'seed'), join(dir, 'far.bin'), ['--chunk-size', '64KiB'])
    await startSeeder(t, join(dir, 'seed'), seederPort, { interval: 60 })
    const dictionary = join(dir, 'one', 'dictionary.json')
    // A FIFO where the known-peers file goes: ignored with a warning (never a hang), replaced by the first write.
    await mkdir(join(dir, 'one'), { recursive: true })
    mkfifo(join(dir, 'one', 'known_peers.json'))

    const named = await runDownload(join(dir, 'one'), ourPort, [
      'far.bin',
      '--wait',
      '10',
      '--peer',
      `127.0.0.1:${seederPort}`,
    ])
    assert.equal(named.code, 0, `${named.stderr}\n${named.log}`)
    const first = named.result as unknown as Receipt
    assert.equal(first.sha256, sha)
    assert.deepEqual(
      first.peers.map((p) => p.via),
      ['peer'],
    )
    const known = JSON.parse(await readFile(join(dir, 'one', 'known_peers.json'), 'utf8')) as {
      peers: Array<{ address: string; port: number }>
    }
    assert.deepEqual(
      known.peers.map((p) => [p.address, p.port]),
      [['127.0.0.1', seederPort]],
    )

    const again = await runDownload(join(dir, 'two'), ourPort, ['far.bin', '--wait', '10', '--dictionary', dictionary])
    assert.equal(again.code, 0, `${again.stderr}\n${again.log}`)
    const second = again.result as unknown as Receipt
    assert.equal(second.sha256, sha)
    assert.deepEqual(
      second.peers.map((p) => p.via),
      ['known'],
    )

    const started = Date.now()
    const none = await runDownload(join(dir, 'three'), ourPort, [
      'far.bin',
      '--wait',
      '1',
      '--dictionary',
      dictionary,
      '--no-known-peers',
    ])
    assert.equal(none.code, 3, none.stderr) // E_NOT_FOUND
    assert.ok(
      Date.now() - started < 40_000,
      'failed soon after --wait, not a hang (start-up on a loaded machine takes seconds)',
    )
    assert.match(
      none.stderr,
      /no peer answered or announced itself within [0-9.]+ s[^:]*: tried IPv4 broadcast to 127\.255\.255\.255; no known peers\. .*--peer HOST/,
    )
    assert.match(none.stderr, new RegExp(`UDP port ${ourPort}`))
  })

  it('a --peer that does not resolve stops p2p-download at once with a clear error; a malformed one is E_USAGE', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const started = Date.now()
    const r = await runDownload(dir, udp, ['x.bin', '--wait', '30', '--peer', 'no-such-host.invalid'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /cannot resolve peer "no-such-host\.invalid"/)
    assert.ok(Date.now() - started < 40_000, 'no hang: the resolver has a deadline')
    const bad = await runDownload(dir, udp, ['x.bin', '--peer', '[fe80::1]:99999'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /invalid peer/)
  })

  it('p2p-listen --peer (and P2P_PEERS) lists the named seeder with via "peer" in its dictionary and --json', async (t) => {
    const dir = await tmpDir(t)
    const seederPort = await freeUdpPort()
    const ourPort = await freeUdpPort()
    await randomFile(join(dir, 'near.bin'), 20_000)
    await split(join(dir, 'seed'), join(dir, 'near.bin'))
    await startSeeder(t, join(dir, 'seed'), seederPort, { interval: 60 })
    const dictionary = join(dir, 'dictionary.json')
    const listen = startDaemon(t, 'p2p-listen', [
      '--json',
      '--dictionary',
      dictionary,
      '--udp-port',
      String(ourPort),
      '--broadcast',
      BROADCAST,
      '--peer',
      `localhost:${seederPort}`,
      '--logs-dir',
      join(dir, 'logs'),
    ])
    await listen.firstLine
    const snapshot = await until(
      () => readDictionary(dictionary),
      (s) => Object.keys(s.files).length === 1,
      10_000,
    )
    const [file] = Object.values(snapshot.files)
    assert.equal(file!.name, 'near.bin')
    assert.deepEqual(
      file!.peers.map((p) => (p as unknown as { via: string }).via),
      ['peer'],
    )
  })

  it('over IPv6 alone (--ipv4 off): a seeder named as [::1]:PORT answers, and the file comes over TCP on ::1', async (t) => {
    const dir = await tmpDir(t)
    const seederPort = await freeUdpPort()
    const ourPort = await freeUdpPort()
    const sha = await randomFile(join(dir, 'six.bin'), 100_000)
    await split(join(dir, 'seed'), join(dir, 'six.bin'))
    await startSeeder(t, join(dir, 'seed'), seederPort, { interval: 60, host: '::1' })
    const r = await runDownload(join(dir, 'get'), ourPort, [
      'six.bin',
      '--wait',
      '10',
      '--ipv4',
      'off',
      '--peer',
      `[::1]:${seederPort}`,
    ])
    assert.equal(r.code, 0, `${r.stderr}\n${r.log}`)
    const receipt = r.result as unknown as Receipt
    assert.equal(receipt.sha256, sha)
    assert.match(receipt.peers[0]!.peer, /^::1:\d+$/)
    assert.equal(receipt.peers[0]!.via, 'peer')
  })
})
