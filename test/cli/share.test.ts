import assert from 'node:assert/strict'
import { once } from 'node:events'
import { link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import { runBin } from '../helpers/cli.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { BROADCAST, downloadArgs, freeUdpPort, split, startDaemon, storeArgs } from '../helpers/swarm.js'

interface Shared {
  ok: boolean
  port: number
  files: Array<{ name: string; id: string; size: number; chunks: number; alreadySplit: boolean }>
  storeFiles: number
}

const shareArgs = (dir: string, udp: number, files: string[]): string[] => [
  'share',
  ...files,
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--udp-port',
  String(udp),
  '--broadcast',
  BROADCAST,
  '--interval',
  '0.5',
  '--json',
  ...storeArgs(dir),
]

/** `p2p get` (the built umbrella command) in `dir`, to completion. */
async function get(dir: string, udp: number, target: string) {
  const r = await runBin('p2p', ['get', target, ...downloadArgs(dir, udp)], { timeoutMs: 120_000 })
  const line = r.stdout.trim().split('\n').pop() ?? ''
  return {
    ...r,
    receipt: r.code === 0 ? (JSON.parse(line) as { path: string; sha256: string; id: string }) : undefined,
  }
}

describe('p2p share and p2p get (the built commands)', () => {
  it('shares files from one process (prints their ids), p2p get fetches them by name and by id, and Ctrl-C stops with a goodbye and exit 0', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const sha = await randomFile(join(dir, 'movie.bin'), 3 * 1024 * 1024 + 5)
    const shaNotes = await randomFile(join(dir, 'notes.txt'), 1000)
    const share = startDaemon(
      t,
      'p2p',
      shareArgs(join(dir, 'seeder'), udp, [join(dir, 'movie.bin'), join(dir, 'notes.txt')]),
    )
    const shared = (await share.firstLine) as unknown as Shared
    assert.equal(shared.ok, true)
    assert.ok(shared.port > 0)
    assert.deepEqual(
      shared.files.map((f) => [f.name, f.size, f.alreadySplit]),
      [
        ['movie.bin', 3 * 1024 * 1024 + 5, false],
        ['notes.txt', 1000, false],
      ],
    )
    const movie = shared.files[0]!
    assert.match(movie.id, /^[0-9a-f]{64}$/)

    const byName = await get(join(dir, 'a'), udp, 'movie.bin')
    assert.equal(byName.code, 0, byName.stderr)
    assert.equal(byName.receipt?.id, movie.id)
    assert.equal(await sha256File(byName.receipt!.path), sha)
    const byId = await get(join(dir, 'b'), udp, shared.files[1]!.id)
    assert.equal(byId.code, 0, byId.stderr)
    assert.equal(await sha256File(byId.receipt!.path), shaNotes)

    const exited = once(share.child, 'exit')
    share.kill('SIGINT')
    const [code] = await exited
    assert.equal(code, 0)
    const log = (await readFile(join(dir, 'seeder', 'logs', 'share.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string })
    assert.ok(
      log.some((l) => l.msg === 'goodbye sent'),
      'a goodbye went out',
    )
    assert.ok(log.some((l) => l.msg === 'stopped'))
  })

  it('finds a file already split (nothing written again) and shares the rest of the store too', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await randomFile(join(dir, 'old.bin'), 200_000)
    await randomFile(join(dir, 'other.bin'), 1000)
    const { id } = await split(join(dir, 'seeder'), join(dir, 'old.bin'))
    await split(join(dir, 'seeder'), join(dir, 'other.bin'))
    const share = startDaemon(t, 'p2p', shareArgs(join(dir, 'seeder'), udp, [join(dir, 'old.bin')]))
    const shared = (await share.firstLine) as unknown as Shared
    assert.deepEqual(
      shared.files.map((f) => [f.id, f.alreadySplit]),
      [[id, true]],
    )
    assert.equal(shared.storeFiles, 2)
    const other = await get(join(dir, 'a'), udp, 'other.bin')
    assert.equal(other.code, 0, other.stderr)
    assert.equal(await share.stop(), 0)
  })

  it('refuses two paths with one file name (E_USAGE, exit 2) and a missing file (E_NOT_FOUND, exit 3), before serving anything', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await randomFile(join(dir, 'a.bin'), 100)
    const same = await runBin(
      'p2p',
      shareArgs(join(dir, 's'), udp, [join(dir, 'a.bin'), join(dir, 'x', '..', 'a.bin')]),
    )
    assert.equal(same.code, 2, same.stderr)
    assert.match(same.stderr, /same file name.*\[E_USAGE\]/)
    // The existing file first: nothing is split when one path is missing.
    const missing = await runBin('p2p', shareArgs(join(dir, 's'), udp, [join(dir, 'a.bin'), join(dir, 'nope.bin')]))
    assert.equal(missing.code, 3, missing.stderr)
    assert.match(missing.stdout, /"code":"E_NOT_FOUND"/)
    assert.deepEqual(
      (await readdir(join(dir, 's', 'chunks')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')),
      [],
      'a.bin was not split',
    )
  })

  it("refuses a folder holding its identity or swarm secret file (E_USAGE, before serving): a downloader got the seeder's key", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const folder = join(dir, 'album')
    await mkdir(folder)
    await writeFile(join(folder, 'notes.txt'), 'mine')
    await writeFile(join(folder, 'swarm.secret'), `${generateSecret()}\n`, { mode: 0o600 })
    for (const extra of [
      ['--identity', join(folder, 'peer.key')],
      ['--secret-file', join(folder, 'swarm.secret')],
    ]) {
      if (extra[0] === '--identity') await runBin('p2p', ['id', '--identity', extra[1]!, '--logs-dir', join(dir, 'l')])
      const r = await runBin('p2p', [...shareArgs(join(dir, 's'), udp, [folder]), ...extra])
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /(identity|swarm secret) file .* is inside .*\[E_USAGE\]/)
    }
    // The key kept outside, a hard link to it inside: the same file.
    const key = join(dir, 'keys', 'id.key')
    await mkdir(join(dir, 'keys'))
    await runBin('p2p', ['id', '--identity', key, '--logs-dir', join(dir, 'l')])
    await rm(join(folder, 'peer.key'))
    await rm(join(folder, 'swarm.secret'))
    await link(key, join(folder, 'backup.key'))
    const linked = await runBin('p2p', [...shareArgs(join(dir, 's'), udp, [folder]), '--identity', key])
    assert.equal(linked.code, 2, linked.stderr)
    assert.match(linked.stderr, /identity file .* is inside .* as backup\.key \(a link to it\).*\[E_USAGE\]/)
  })

  it('p2p get: an id nobody shares is E_NOT_FOUND (exit 3) within --wait; no argument and no terminal is E_USAGE', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const r = await runBin('p2p', ['get', 'ab'.repeat(32), ...downloadArgs(dir, udp, ['--wait', '0.5'])], {
      timeoutMs: 30_000,
    })
    assert.equal(r.code, 3, r.stderr)
    const usage = await runBin('p2p', ['get', ...downloadArgs(dir, udp)])
    assert.equal(usage.code, 2, usage.stderr)
    assert.match(usage.stderr, /give a NAME, ID or share link/)
  })
})
