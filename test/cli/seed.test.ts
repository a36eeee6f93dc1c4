import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DiscoveryListener } from '../../src/core/discovery/listener.js'
import { onCleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { until } from '../helpers/dictionary.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { startLiar } from '../helpers/liar.js'
import { BROADCAST, downloadArgs, freeUdpPort, runDownload, split, startDaemon, startSeeder } from '../helpers/swarm.js'

interface Receipt {
  ok: boolean
  path: string
  sha256: string
  peers: Array<{ peer: string; bytes: number; banned?: string }>
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** A TCP port nothing listens on now (the kernel's pick, given back). */
async function freeTcpPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

// IPv4 only, the family the server on 127.0.0.1 answers: the download's listener then hears the discovery port
// through its announcer's sockets (its sharedPort), as with the default --host :: on a host with IPv6.
const seedFlags = ['--seed', '--host', '127.0.0.1', '--ipv6', 'off', '--port', '0', '--interval', '0.5']

describe('p2p-download --seed (the built command): download, then serve and announce from the same process', () => {
  it('a second downloader gets the file from the seeding downloader alone once the first seeder is gone; Ctrl-C stops it with exit 0 and what it served', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const size = 3 * 1024 * 1024 + 11
    const sha = await randomFile(join(dir, 'movie.bin'), size)
    const { id } = await split(join(dir, 'seeder'), join(dir, 'movie.bin'))
    const seeder = await startSeeder(t, join(dir, 'seeder'), udp)

    const a = startDaemon(t, 'p2p-download', downloadArgs(join(dir, 'a'), udp, ['--id', id, ...seedFlags]))
    const receipt = (await a.firstLine) as unknown as Receipt
    assert.equal(receipt.ok, true)
    assert.equal(await sha256File(receipt.path), sha)
    assert.equal(a.child.exitCode, null, 'still running: seeding')

    await seeder.serve.stop()
    await seeder.announce.stop()
    const b = await runDownload(join(dir, 'b'), udp, ['--id', id])
    assert.equal(b.code, 0, b.log)
    // Its second line says where it seeds (with --port 0 a script learned the port nowhere).
    const started = JSON.parse(a.stdout().trim().split('\n')[1]!) as { seeding: boolean; port: number; udpPort: number }
    assert.deepEqual([started.seeding, started.udpPort], [true, udp])
    assert.ok(started.port > 0)
    const got = b.result as unknown as Receipt
    assert.equal(await sha256File(got.path), sha)
    assert.ok(
      got.peers.every((p) => !p.peer.endsWith(`:${seeder.port}`)) && got.peers.some((p) => p.bytes > 0),
      `only the seeding downloader delivered: ${JSON.stringify(got.peers)}`,
    )

    const exited = once(a.child, 'exit')
    a.kill('SIGINT')
    const [code] = await exited
    assert.equal(code, 0, a.stderr())
    const last = JSON.parse(a.stdout().trim().split('\n').pop()!) as {
      stopped: boolean
      stats: { bytesServed: number }
    }
    assert.equal(last.stopped, true)
    assert.ok(last.stats.bytesServed >= size, `served the file: ${last.stats.bytesServed} bytes`)
  })

  it('by name: the file is announced only once its name is decided (the first to answer may be a stranger sharing the name)', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'movie.bin'), 4 * 1024 * 1024 + 5)
    const { id } = await split(join(dir, 'seeder'), join(dir, 'movie.bin'))
    await startSeeder(t, join(dir, 'seeder'), udp)
    // Our own ear on the swarm's port: when does a second peer (the seeding downloader) offer the file?
    const ear = new DiscoveryListener({ udpPort: udp, broadcast: [BROADCAST], staleAfterMs: 60_000 })
    await ear.start()
    onCleanup(t, () => ear.stop())
    let seenAt: number | undefined
    const watch = setInterval(() => {
      if ((ear.files().find((f) => f.id === id)?.peers.length ?? 0) >= 2) seenAt ??= Date.now()
    }, 5)
    onCleanup(t, () => clearInterval(watch))

    const a = startDaemon(t, 'p2p-download', downloadArgs(join(dir, 'a'), udp, ['movie.bin', ...seedFlags]))
    const receipt = (await a.firstLine) as unknown as Receipt
    assert.equal(await sha256File(receipt.path), sha)
    await until(
      async () => seenAt,
      () => true,
      10_000,
    )
    // The downloader runs on (seeding): its log is written asynchronously, so read until the line is there.
    const decisionTimes = async (): Promise<number[] | undefined> => {
      const lines = (await readFile(join(dir, 'a', 'logs', 'download.log'), 'utf8')).split('\n')
      const found = lines.filter((l) => l.includes('"name decided"') && l.endsWith('}'))
      return found.length > 0 ? found.map((l) => JSON.parse(l).time as number) : undefined
    }
    const decided = await until(decisionTimes, () => true, 5000)
    assert.equal(decided.length, 1, 'the name was decided once')
    assert.ok(seenAt! >= decided[0]!, `announced ${decided[0]! - seenAt!} ms before its name was decided`)
  })

  it('liars beside the seeder: the seeding downloader keeps none of their bytes, and a downloader that then has only it and the liars gets the exact file, never striking it', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'target.bin'), 64 * 65536)
    const { id } = await split(join(dir, 'seeder'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
    const liars = await Promise.all(
      (['random', 'reorder'] as const).map((mode) =>
        startLiar(t, { udpPort: udp, storeDir: join(dir, 'seeder'), name: 'target.bin', id, mode }),
      ),
    )
    const seeder = await startSeeder(t, join(dir, 'seeder'), udp)
    const a = startDaemon(
      t,
      'p2p-download',
      downloadArgs(join(dir, 'a'), udp, ['--id', id, '--window', '4', ...seedFlags]),
    )
    const receipt = (await a.firstLine) as unknown as Receipt
    assert.equal(await sha256File(receipt.path), sha)
    const fromLiars = new Set(liars.map((l) => `:${l.port}`))
    const isLiar = (p: { peer: string }) => [...fromLiars].some((suffix) => p.peer.endsWith(suffix))
    assert.ok(
      receipt.peers.filter(isLiar).every((p) => p.bytes === 0),
      JSON.stringify(receipt.peers),
    )
    await seeder.serve.stop()
    await seeder.announce.stop()
    const b = await runDownload(join(dir, 'b'), udp, ['--id', id, '--window', '4'])
    assert.equal(b.code, 0, b.log)
    const got = b.result as unknown as Receipt
    assert.equal(await sha256File(got.path), sha)
    const seeding = got.peers.filter((p) => !isLiar(p))
    assert.ok(
      seeding.length === 1 && seeding[0]!.bytes > 0 && !seeding[0]!.banned,
      `the seeding downloader delivered and was never banned: ${JSON.stringify(got.peers)}`,
    )
  })

  it('Ctrl-C while the download still waits for a peer: exit 130 at once, its server gone (the port free again)', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const port = await freeTcpPort()
    const waiting = startDaemon(
      t,
      'p2p-download',
      downloadArgs(join(dir, 'a'), udp, [
        '--id',
        'ab'.repeat(32),
        '--wait',
        '60',
        ...seedFlags,
        '--port',
        String(port),
      ]),
    )
    await until(
      () => accepts(port),
      (listening) => listening,
      20_000,
    ) // the seeding server listens
    const exited = once(waiting.child, 'exit')
    waiting.kill('SIGINT')
    const [code] = await Promise.race([exited, new Promise<[string]>((r) => setTimeout(() => r(['hung']), 10_000))])
    assert.equal(code, 130, waiting.stderr())
    assert.equal(await accepts(port), false, 'nothing listens on its port any more')
  })

  it('a serving port already taken stops it before any traffic: one line, E_USAGE, exit 2', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await randomFile(join(dir, 'f.bin'), 1000)
    const { id } = await split(join(dir, 'seeder'), join(dir, 'f.bin'))
    const seeder = await startSeeder(t, join(dir, 'seeder'), udp)
    const r = await runBin(
      'p2p-download',
      downloadArgs(join(dir, 'a'), udp, ['--id', id, '--seed', '--host', '127.0.0.1', '--port', String(seeder.port)]),
      { timeoutMs: 30_000 },
    )
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stdout, /"code":"E_USAGE"/)
    assert.match(r.stdout, /is another p2p-serve running\? use --port/)
  })
})
