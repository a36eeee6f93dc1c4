import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { ChunkStore } from '../../src/core/store.js'
import { randomFile, sha256File } from '../helpers/files.js'
import { type Host, type HostProcess, Lan, netnsAvailable } from './harness.js'

/**
 * Four hosts on one bridged subnet (10.77.0.0/24), each command a separate
 * process in its host's namespace with its own directories, default ports
 * and the default broadcast setting ("auto" → 10.77.0.255).
 */

const skip = netnsAvailable()
const MiB = 1024 * 1024

interface Receipt {
  sha256: string
  seconds: number
  peers: Array<{ peer: string; bytes: number }>
}

describe('several hosts on a LAN (network namespaces)', { skip }, () => {
  let lan: Lan
  let root: string
  let h1: Host, h2: Host, h3: Host, h4: Host
  const fileSha = new Map<string, string>()

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'p2p-netns-'))
    lan = await Lan.create(root, 4)
    ;[h1, h2, h3, h4] = lan.hosts as [Host, Host, Host, Host]
  })
  afterEach(async () => {
    await lan?.reset()
  })
  after(async () => {
    await lan?.destroy()
    await rm(root, { recursive: true, force: true })
  })

  /** A random file split into the stores of the given hosts. */
  async function share(name: string, size: number, hosts: Host[]): Promise<void> {
    const source = join(root, name)
    fileSha.set(name, await randomFile(source, size))
    for (const h of hosts) {
      const split = h.start('p2p-split', [source, '--json'])
      assert.equal(await split.exited, 0, split.stderr())
    }
  }

  function seed(h: Host, announceArgs: string[] = []): HostProcess[] {
    return [h.start('p2p-serve', []), h.start('p2p-announce', announceArgs)]
  }

  /** Chunks of `name` the host's store holds (a running download's progress). */
  async function storedChunks(h: Host, name: string): Promise<number> {
    const entry = (await new ChunkStore(join(h.dir, 'chunks')).scan()).find((e) => e.name === name)
    return entry?.have.count() ?? 0
  }

  async function download(h: Host, name: string, extra: string[] = []): Promise<Receipt> {
    const d = h.start('p2p-download', [name, '--json', '--downloads-dir', join(h.dir, 'downloads'), ...extra])
    const code = await d.exited
    assert.equal(code, 0, `${d.stderr()}\n${d.stdout()}`)
    assert.equal(await sha256File(join(h.dir, 'downloads', name)), fileSha.get(name))
    return JSON.parse(d.stdout().trim().split('\n').pop()!) as Receipt
  }

  async function dictionaryPeers(h: Host, name: string): Promise<string[]> {
    const text = await readFile(join(h.dir, 'content_dictionary.json'), 'utf8').catch(() => '{"files":{}}')
    const files = (JSON.parse(text) as { files: Record<string, { name: string; peers: Array<{ address: string }> }> })
      .files
    return Object.values(files)
      .filter((f) => f.name === name)
      .flatMap((f) => f.peers.map((p) => p.address))
      .sort()
  }

  async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      if (await check()) return
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.fail(`${what}: not within ${ms} ms`)
  }

  async function stopAll(processes: HostProcess[]): Promise<void> {
    await Promise.all(processes.map((p) => p.stop()))
  }

  it('1 · two seeders and a downloader on a third host; the dictionary shows each seeder at its own address', async () => {
    await share('one.bin', 24 * MiB, [h1, h2])
    const seeders = [...seed(h1), ...seed(h2)]
    const listen = h3.start('p2p-listen', ['--dictionary', join(h3.dir, 'content_dictionary.json')])
    // Both seeders announced before the download starts, so both can serve from its first request
    // (one that appears later joins mid-download: a 24 MiB file may be done by then).
    await until(
      async () => (await dictionaryPeers(h3, 'one.bin')).join() === [h1.address, h2.address].join(),
      30_000,
      'dictionary lists both seeders',
    )
    const receipt = await download(h3, 'one.bin')
    assert.deepEqual(
      receipt.peers
        .filter((p) => p.bytes > 0)
        .map((p) => p.peer.split(':')[0])
        .sort(),
      [h1.address, h2.address],
    )
    await stopAll([...seeders, listen])
  })

  it('4 · a fourth host downloads from the third alone after it finished (reseeding across hosts)', async () => {
    const reseeder = seed(h3)
    const receipt = await download(h4, 'one.bin')
    assert.deepEqual(
      receipt.peers.filter((p) => p.bytes > 0).map((p) => p.peer.split(':')[0]),
      [h3.address],
    )
    await stopAll(reseeder)
  })

  it("2 · a seeder's link is cut mid-download: it completes from the other, and the lost peer expires", async () => {
    await share('cut.bin', 32 * MiB, [h1, h2])
    h1.shape('50mbit')
    h2.shape('50mbit')
    // Announcing every second, well inside the listener's 3 s expiry: a live seeder never drops out of its view.
    const seeders = [...seed(h1, ['--interval', '1']), ...seed(h2, ['--interval', '1'])]
    const listen = h4.start('p2p-listen', [
      '--dictionary',
      join(h4.dir, 'content_dictionary.json'),
      '--stale-after',
      '3',
    ])
    await until(async () => (await dictionaryPeers(h4, 'cut.bin')).length === 2, 30_000, 'both seeders known')
    const run = download(h4, 'cut.bin', ['--request-timeout', '5'])
    await until(async () => (await storedChunks(h4, 'cut.bin')) >= 4, 60_000, 'the download under way') // 32 chunks: mid-download
    h1.link(false)
    const receipt = await run
    assert.ok(receipt.peers.some((p) => p.peer.startsWith(h2.address) && p.bytes > 0))
    await until(
      async () => (await dictionaryPeers(h4, 'cut.bin')).join() === h2.address,
      30_000,
      'the cut seeder expires',
    )
    await stopAll([...seeders, listen])
  })

  it('3 · a seeder that joins after the download started contributes chunks', async () => {
    await share('late.bin', 32 * MiB, [h1, h2])
    await rm(join(h3.dir, 'chunks', 'late.bin'), { recursive: true, force: true })
    h1.shape('20mbit')
    const early = seed(h1)
    const lateServer = h2.start('p2p-serve', []) // up already, but unknown to the downloader until it announces
    const run = download(h3, 'late.bin')
    await until(async () => (await storedChunks(h3, 'late.bin')) >= 1, 60_000, 'the download under way') // from the early seeder alone
    const late = [lateServer, h2.start('p2p-announce', [])]
    const receipt = await run
    const fromLate = receipt.peers.find((p) => p.peer.startsWith(h2.address))
    assert.ok(fromLate && fromLate.bytes > 0, JSON.stringify(receipt.peers))
    await stopAll([...early, ...late])
  })

  // What the two rates are is a benchmark (npm run bench:swarm), not a verdict: on a machine loaded to 15 the
  // downloader (encrypting by default) became the limit and one seeder was as fast as two. The verdict is that
  // both shaped links carry the file: each seeder delivers at least a quarter of it. 40 chunks, not fewer: the
  // endgame duplicates the last window's requests.
  it('5 · with 50 Mbit/s per seeder link, two seeders share the download (each delivers at least a quarter)', async (t) => {
    await share('rate.bin', 40 * MiB, [h1, h2])
    h1.shape('50mbit')
    h2.shape('50mbit')
    const rates: number[] = []
    let shares: number[] = []
    const listen = h4.start('p2p-listen', ['--dictionary', join(h4.dir, 'content_dictionary.json')])
    for (const seeders of [[h1], [h1, h2]]) {
      const processes = seeders.flatMap((h) => seed(h))
      await rm(join(h4.dir, 'chunks', 'rate.bin'), { recursive: true, force: true })
      await rm(join(h4.dir, 'downloads', 'rate.bin'), { force: true })
      // Every seeder heard before the clock starts (the download reads this dictionary when it starts).
      await until(
        async () => (await dictionaryPeers(h4, 'rate.bin')).join() === seeders.map((h) => h.address).join(),
        30_000,
        `${seeders.length} seeder(s) known`,
      )
      const receipt = await download(h4, 'rate.bin', ['--id', await idOf(h1, 'rate.bin')])
      rates.push((40 * MiB) / receipt.seconds / 1e6)
      shares = seeders.map(
        (h) =>
          receipt.peers.filter((p) => p.peer.startsWith(`${h.address}:`)).reduce((n, p) => n + p.bytes, 0) / (40 * MiB),
      )
      await stopAll(processes)
    }
    await listen.stop()
    t.diagnostic(
      `50 Mbit/s per seeder: 1 seeder ${rates[0]!.toFixed(1)} MB/s, 2 seeders ${rates[1]!.toFixed(1)} MB/s (${(rates[1]! / rates[0]!).toFixed(2)} ×); shares ${shares.map((x) => x.toFixed(2)).join(', ')}`,
    )
    for (const share of shares) assert.ok(share >= 0.25, `each seeder delivers ≥ 1/4 of the file: ${shares.join(', ')}`)
  })

  async function idOf(h: Host, name: string): Promise<string> {
    const { createHash } = await import('node:crypto')
    return createHash('sha256')
      .update(await readFile(join(h.dir, 'chunks', name, 'manifest.json')))
      .digest('hex')
  }

  it('leaves no namespace behind', async () => {
    await lan.destroy()
    const { execFileSync } = await import('node:child_process')
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(lan.prefix))
  })
})
