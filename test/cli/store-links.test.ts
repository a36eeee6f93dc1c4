import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readdir, readFile, rm, symlink, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { hasCode } from '../../src/core/errors.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { onCleanup } from '../helpers/cleanup.js'
import { BIN, runBin } from '../helpers/cli.js'
import { mkfifo, randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, runDownload, split, startDaemon, startSeeder, storeArgs } from '../helpers/swarm.js'

/**
 * Issue 14, findings 11 and 12 (FAULTS.md case 43): store-internal paths that
 * are symlinks lead nowhere outside the store (a canary directory outside
 * stays empty), and private files that are FIFOs never hang a command.
 */

async function seeded(t: Parameters<typeof tmpDir>[0]) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const sha = await randomFile(join(dir, 'f.bin'), 300_000)
  const { id } = await split(join(dir, 's0'), join(dir, 'f.bin'), ['--chunk-size', '64KiB'])
  await mkdir(join(dir, 'canary'))
  return { dir, udp, sha, id, canary: join(dir, 'canary') }
}

describe('store directories that are symlinks are never followed (finding 11)', () => {
  it('p2p-download: an entry directory linked outside is left alone (the id names the entry); a linked .p2p/locks fails (E_IO)', async (t) => {
    const { dir, udp, sha, id, canary } = await seeded(t)
    await startSeeder(t, join(dir, 's0'), udp)
    await mkdir(join(dir, 'd', 'chunks'), { recursive: true })
    await symlink(canary, join(dir, 'd', 'chunks', 'f.bin'))
    const r = await runDownload(join(dir, 'd'), udp, ['f.bin'])
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'f.bin')), sha)
    assert.deepEqual((await readdir(join(dir, 'd', 'chunks', id))).sort(), ['data', 'data.have', 'manifest.json'])
    assert.deepEqual(await readdir(canary), [], 'nothing written through the link')

    await rm(join(dir, 'd', 'chunks', id), { recursive: true })
    await rm(join(dir, 'd', 'downloads'), { recursive: true })
    await rm(join(dir, 'd', 'chunks', '.p2p', 'locks'), { recursive: true })
    await symlink(canary, join(dir, 'd', 'chunks', '.p2p', 'locks'))
    const locked = await runDownload(join(dir, 'd'), udp, ['f.bin'])
    assert.equal(locked.code, 6, locked.log)
    assert.match((locked.result as { message: string }).message, /locks is a symbolic link/)
    assert.deepEqual(await readdir(canary), [])
  })

  it('p2p-split into an entry directory linked outside: E_IO, nothing written', async (t) => {
    const { dir, canary } = await seeded(t)
    await mkdir(join(dir, 's1', 'chunks'), { recursive: true })
    await symlink(canary, join(dir, 's1', 'chunks', 'f.bin'))
    const r = await runBin('p2p-split', [join(dir, 'f.bin'), '--json', ...storeArgs(join(dir, 's1'))])
    assert.equal(r.code, 6, r.stderr)
    assert.match(r.stderr, /symbolic link/)
    assert.deepEqual(await readdir(canary), [])
  })

  it('p2p-serve and p2p-announce do not offer an entry reachable only through a link', async (t) => {
    const { dir, id } = await seeded(t)
    await randomFile(join(dir, 'other.bin'), 5000)
    const other = await split(join(dir, 'elsewhere'), join(dir, 'other.bin'))
    await symlink(join(dir, 'elsewhere', 'chunks', 'other.bin'), join(dir, 's0', 'chunks', 'linked'))
    const serve = startDaemon(t, 'p2p-serve', [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--json',
      ...storeArgs(join(dir, 's0')),
    ])
    const { port, files } = (await serve.firstLine) as { port: number; files: number }
    assert.equal(files, 1)
    const client = await PeerClient.connect({
      host: '127.0.0.1',
      port,
      secure: { keyPair: NoiseSecretStream.keyPair() },
    })
    onCleanup(t, () => client.close())
    assert.ok((await client.fetchManifest(id)).length > 0)
    await assert.rejects(client.fetchManifest(other.id), (err) => hasCode(err, 'E_NOT_FOUND'))
    const announce = startDaemon(t, 'p2p-announce', [
      '--port',
      String(port),
      '--udp-port',
      String(await freeUdpPort()),
      '--broadcast',
      '127.255.255.255',
      '--json',
      ...storeArgs(join(dir, 's0')),
    ])
    assert.equal(((await announce.firstLine) as { files: number }).files, 1)
  })
})

describe('private files that are FIFOs never hang a command (finding 12, FAULTS.md case 43)', () => {
  it("a FIFO as the download's lock: a clear E_IO at once, not a hang", async (t) => {
    const { dir, udp, id } = await seeded(t)
    await startSeeder(t, join(dir, 's0'), udp)
    await mkdir(join(dir, 'd', 'chunks', '.p2p', 'locks'), { recursive: true })
    mkfifo(join(dir, 'd', 'chunks', '.p2p', 'locks', `${id}.lock`))
    const r = await runDownload(join(dir, 'd'), udp, ['f.bin'], 30_000)
    assert.equal(r.signal, null, 'finished by itself')
    assert.equal(r.code, 6, r.log)
    assert.match((r.result as { message: string }).message, /FIFO/)
  })

  it("FIFOs as the seeder's peer id and verified record, and as the dictionary file: everything still works", async (t) => {
    const { dir, udp, sha, id } = await seeded(t)
    mkfifo(join(dir, 's0', 'chunks', '.p2p', 'peer-id'))
    await unlink(join(dir, 's0', 'chunks', '.p2p', 'verified', id))
    mkfifo(join(dir, 's0', 'chunks', '.p2p', 'verified', id))
    await startSeeder(t, join(dir, 's0'), udp)
    mkfifo(join(dir, 'dictionary.fifo'))
    const r = await runDownload(join(dir, 'd'), udp, ['f.bin', '--dictionary', join(dir, 'dictionary.fifo')], 60_000)
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'f.bin')), sha)
  })

  it('SIGTERM stops a download whose dictionary file is a FIFO (exit 130)', async (t) => {
    const { dir, udp } = await seeded(t)
    mkfifo(join(dir, 'dictionary.fifo'))
    const child = spawn(
      process.execPath,
      [
        BIN('p2p-download'),
        'absent.bin',
        '--wait',
        '60',
        ...downloadArgs(join(dir, 'd'), udp, ['--dictionary', join(dir, 'dictionary.fifo')]),
      ],
      { stdio: 'ignore' },
    )
    onCleanup(t, () => {
      child.kill('SIGKILL')
    })
    // Once its log says it started, its signal handlers are in place and it has read (or tried) the dictionary.
    for (const until = Date.now() + 20_000; Date.now() < until; ) {
      if ((await readFile(join(dir, 'd', 'logs', 'download.log'), 'utf8').catch(() => '')).includes('"msg":"start"'))
        break
      await new Promise((r) => setTimeout(r, 50))
    }
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const [code, signal] = await exited
    clearTimeout(timer)
    assert.deepEqual([code, signal], [130, null])
  })

  it('a FIFO as ./p2p.config.json (picked up from the working directory): E_USAGE at once, not a hang', async (t) => {
    const dir = await tmpDir(t)
    mkfifo(join(dir, 'p2p.config.json'))
    const r = await runBin('p2p-split', ['absent.bin', '--logs-dir', join(dir, 'logs')], {
      cwd: dir,
      timeoutMs: 30_000,
    })
    assert.equal(r.signal, null, 'finished by itself')
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /FIFO/)
  })

  it('p2p-split of a FIFO: "not a regular file" at once (exit 2), not a hang', async (t) => {
    const dir = await tmpDir(t)
    mkfifo(join(dir, 'pipe'))
    const r = await runBin('p2p-split', [join(dir, 'pipe'), ...storeArgs(join(dir, 's'))], { timeoutMs: 30_000 })
    assert.equal(r.signal, null, 'finished by itself')
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /not a regular file/)
  })
})
