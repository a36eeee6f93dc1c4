import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { randomFile, sha256File } from '../helpers/files.js'
import { discoveryTopology } from './discovery-topology.js'
import { netnsAvailable } from './harness.js'
import type { HostProcess } from './processes.js'
import { nftAvailable, type TopoHost, Topology } from './topology.js'

/**
 * Discovery where broadcast does not go, with the built commands in network
 * namespaces (default ports, "auto" broadcast: the IPv4 subnet broadcasts and
 * the IPv6 group on every interface of the namespace):
 *
 *   iso    a bridge that drops broadcast and multicast (an access point isolating its clients)
 *   left | router | right    two subnets; nothing link-scoped crosses the router
 *   v6     IPv6 only: link-local and ULA addresses, no IPv4
 *   ma, mb a seeder on both, one downloader on each
 *
 * Each download's first byte (the manifest arriving) is timed from its
 * process's first log line and reported as a diagnostic (docs/benchmarks.md).
 */

const skip = netnsAvailable() ?? (nftAvailable() ? undefined : 'nft (nftables) not available')

interface Receipt {
  sha256: string
  peers: Array<{ peer: string; via: string; bytes: number }>
}

describe('discovery paths: named, known, IPv6, multi-homed (network namespaces)', { skip }, () => {
  let net: Topology
  let root: string
  let source: string
  let sha: string
  let id = ''

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'p2p-paths-'))
    net = await Topology.create(root, discoveryTopology(79))
    source = join(root, 'paths.bin')
    sha = await randomFile(source, 3 * 1024 * 1024)
  })
  afterEach(async () => {
    await net?.reset()
  })
  after(async () => {
    await net?.destroy()
    await rm(root, { recursive: true, force: true })
  })

  /** Split the file into the host's store and start p2p-serve and p2p-announce there. */
  async function seed(h: TopoHost, announceArgs: string[] = []): Promise<HostProcess[]> {
    const split = h.start('p2p-split', [source, '--json'])
    assert.equal(await split.exited, 0, split.stderr())
    id = (JSON.parse(split.stdout().trim().split('\n').pop()!) as { id: string }).id
    return [h.start('p2p-serve', []), h.start('p2p-announce', ['--interval', '60', ...announceArgs])]
  }

  /**
   * A fresh download on `h` (store and downloads emptied first), by name or
   * (byId) by id; its exit code, receipt and time to the first byte. By name
   * includes the NAME_QUIET_MS wait for other files of that name.
   */
  async function download(h: TopoHost, extra: string[] = [], byId = false) {
    await rm(join(h.dir, 'chunks'), { recursive: true, force: true })
    await rm(join(h.dir, 'downloads'), { recursive: true, force: true })
    await rm(join(h.dir, 'logs'), { recursive: true, force: true })
    const d = h.start('p2p-download', [
      ...(byId ? ['--id', id] : ['paths.bin']),
      '--json',
      '--wait',
      '15',
      '--downloads-dir',
      join(h.dir, 'downloads'),
      '--dictionary',
      join(h.dir, 'dictionary.json'),
      ...extra,
    ])
    const code = await d.exited
    const last = d.stdout().trim().split('\n').pop() ?? ''
    let receipt: Receipt | undefined
    if (code === 0) {
      receipt = JSON.parse(last) as Receipt
      assert.equal(receipt.sha256, sha)
      assert.equal(await sha256File(join(h.dir, 'downloads', 'paths.bin')), sha)
    }
    return { code, receipt, stderr: d.stderr(), firstByteMs: await firstByteMs(h) }
  }

  /** From the download's start to its manifest (the first bytes from a peer), from its log. */
  async function firstByteMs(h: TopoHost): Promise<number | undefined> {
    const lines = (await readFile(join(h.dir, 'logs', 'download.log'), 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; time: number })
    const start = lines.find((l) => l.msg === 'start')
    const manifest = lines.find((l) => l.msg === 'download start')
    return start && manifest ? manifest.time - start.time : undefined
  }

  const ready = (p: HostProcess): Promise<void> =>
    new Promise((resolve) => {
      const check = setInterval(() => {
        if (p.stdout().includes('\n') || p.child.exitCode !== null) {
          clearInterval(check)
          resolve()
        }
      }, 20)
    })

  it('broadcast dropped: --peer reaches the seeder; the next run finds it through known peers; with neither it fails within --wait, naming the paths tried', async (t) => {
    const i1 = net.host('i1')
    const i2 = net.host('i2')
    const [serve, announce] = await seed(i1)
    await Promise.all([ready(serve!), ready(announce!)])

    const named = await download(i2, ['--peer', i1.on('iso').ipv4!])
    assert.equal(named.code, 0, named.stderr)
    assert.deepEqual(
      named.receipt!.peers.map((p) => [p.peer, p.via]),
      [[`${i1.on('iso').ipv4}:47010`, 'peer']],
    )
    t.diagnostic(`first byte via named peer (by name): ${named.firstByteMs} ms`)

    const known = await download(i2, [], true)
    assert.equal(known.code, 0, known.stderr)
    assert.deepEqual(
      known.receipt!.peers.map((p) => p.via),
      ['known'],
    )
    t.diagnostic(`first byte via known peer (by id): ${known.firstByteMs} ms`)

    const started = Date.now()
    const none = await download(i2, ['--no-known-peers', '--wait', '2'])
    assert.equal(none.code, 3, none.stderr)
    // Not a hang: bounded well below the test's timeout (process start-up on a loaded machine takes seconds).
    assert.ok(Date.now() - started < 40_000, `failed soon after --wait (${Date.now() - started} ms)`)
    assert.match(
      none.stderr,
      /no peer answered or announced itself within [0-9.]+ s[^:]*: tried IPv4 broadcast to 10\.79\.3\.255; IPv6 group ff12::7032:7032 on eth0; no known peers\. .*--peer HOST.*UDP port 47011/,
    )
    assert.ok(net.dropped('iso') > 0, 'the bridge dropped the broadcasts and multicasts')
  })

  it('two subnets behind a router: --peer reaches a seeder on the other side', async (t) => {
    const l1 = net.host('l1')
    const [serve, announce] = await seed(l1)
    await Promise.all([ready(serve!), ready(announce!)])
    const r = await download(net.host('r1'), ['--peer', `${l1.on('left').ipv4}:47011`], true)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      r.receipt!.peers.map((p) => [p.peer, p.via]),
      [[`${l1.on('left').ipv4}:47010`, 'peer']],
    )
    t.diagnostic(`first byte across the router via named peer (by id): ${r.firstByteMs} ms`)
  })

  it('IPv6 only: found through the multicast group, downloaded over link-local TCP with its zone, byte-identical', async (t) => {
    const s1 = net.host('s1')
    const [serve, announce] = await seed(s1)
    await Promise.all([ready(serve!), ready(announce!)])
    const r = await download(net.host('s2'), [], true)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.receipt!.peers.length, 1)
    assert.equal(r.receipt!.peers[0]!.via, 'ipv6')
    assert.equal(r.receipt!.peers[0]!.peer, `${s1.on('v6').linkLocal.split('%')[0]}%eth0:47010`)
    t.diagnostic(`first byte via the IPv6 group (by id): ${r.firstByteMs} ms`)
  })

  it('a multi-homed seeder is found from both sides, each side connecting to the address on its own side', async (t) => {
    const m = net.host('m')
    const [serve, announce] = await seed(m)
    await Promise.all([ready(serve!), ready(announce!)])
    for (const [side, bridge] of [
      ['x', 'ma'],
      ['y', 'mb'],
    ] as const) {
      const r = await download(net.host(side), [], side === 'y')
      assert.equal(r.code, 0, r.stderr)
      const own = [m.on(bridge).ipv4!, `${m.on(bridge).linkLocal.split('%')[0]}%eth0`]
      const used = r.receipt!.peers.filter((p) => p.bytes > 0).map((p) => p.peer.slice(0, p.peer.lastIndexOf(':')))
      assert.ok(used.length > 0)
      for (const address of used) assert.ok(own.includes(address), `${side} used ${address}, not one of ${own}`)
      t.diagnostic(`first byte via broadcast (${side}, ${side === 'y' ? 'by id' : 'by name'}): ${r.firstByteMs} ms`)
    }
  })
})
