import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { lstat, readdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ChunkStore } from '../../src/core/store.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { BIN, runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, runDownload, split, startSeeder, storeArgs } from '../helpers/swarm.js'
import { ALBUM, ALBUM_CHUNK, makeTree, type TreeSpec, treeListing } from '../helpers/tree-files.js'

const KiB = 1024
const CHUNK = ALBUM_CHUNK

interface FolderReceipt {
  path: string
  sha256: string
  files: Array<{ path: string; size: number; sha256: string; exec?: true }>
  dirs: number
  resumedBytes: number
}

async function seededFolder(dir: string, spec: TreeSpec, name = 'album') {
  const folder = join(dir, 'src', name)
  await makeTree(folder, spec)
  const { id } = await split(join(dir, 's0'), folder, ['--chunk-size', String(CHUNK)])
  return { folder, id }
}

describe('p2p-split DIR and p2p-download of a folder (real processes)', () => {
  it('round-trips a folder byte for byte: paths, sizes, modes, hashes, empty directories and files', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const { folder } = await seededFolder(dir, ALBUM)
    await startSeeder(t, join(dir, 's0'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['album'])
    assert.equal(r.code, 0, `${r.stderr}\n${r.log}`)
    const receipt = r.result as unknown as FolderReceipt
    assert.equal(receipt.path, join(dir, 'd', 'downloads', 'album'))
    assert.deepEqual(await treeListing(receipt.path), await treeListing(folder))
    assert.equal(receipt.files.length, 6)
    assert.equal(receipt.files.find((f) => f.path === 'run.sh')?.exec, true)
    // Nothing else in downloads/: the temporary tree is gone.
    assert.deepEqual(await readdir(join(dir, 'd', 'downloads')), ['album'])
    // A second download of the same folder elsewhere in downloads/ never merges: an identical tree is kept.
    const again = await runDownload(join(dir, 'd'), udp, ['album'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual(await readdir(join(dir, 'd', 'downloads')), ['album'])
  })

  it('a --json receipt larger than a pipe holds reaches a slow reader whole (the process exits once it has)', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const spec: TreeSpec = {}
    for (let i = 0; i < 1500; i++)
      spec[`a-directory-with-a-longish-name/file-${String(i).padStart(5, '0')}.txt`] = `${i}`
    const { id } = await seededFolder(dir, spec)
    await startSeeder(t, join(dir, 's0'), udp)
    const command = [BIN('p2p-download'), ...downloadArgs(join(dir, 'd'), udp, ['--id', id])]
    // The reader starts reading a second after the receipt was written: the pipe holds 64 KiB of it meanwhile.
    const quoted = [process.execPath, ...command].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
    const child = spawn('sh', ['-c', `${quoted} | (sleep 1; cat)`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    const [code] = (await once(child, 'exit')) as [number | null]
    assert.equal(code, 0)
    assert.ok(stdout.length > 128 * 1024, `${stdout.length} bytes`)
    const receipt = JSON.parse(stdout) as FolderReceipt
    assert.equal(receipt.files.length, 1500)
  })

  it('saves as "NAME (1)" when downloads/NAME is taken by something else, and never follows a link there', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const { folder } = await seededFolder(dir, ALBUM)
    await startSeeder(t, join(dir, 's0'), udp)
    const outside = join(dir, 'outside')
    await makeTree(outside, { 'canary.txt': 'canary' })
    await makeTree(join(dir, 'd', 'downloads'), {})
    await symlink(outside, join(dir, 'd', 'downloads', 'album'))
    const r = await runDownload(join(dir, 'd'), udp, ['album'])
    assert.equal(r.code, 0, r.stderr)
    const receipt = r.result as unknown as FolderReceipt
    assert.equal(receipt.path, join(dir, 'd', 'downloads', 'album (1)'))
    assert.deepEqual(await treeListing(receipt.path), await treeListing(folder))
    assert.deepEqual(await readdir(outside), ['canary.txt'], 'nothing written through the link')
    assert.ok((await lstat(join(dir, 'd', 'downloads', 'album'))).isSymbolicLink())
  })

  it('--only fetches exactly the chosen subset and never asks for the other chunks', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await seededFolder(dir, ALBUM)
    await startSeeder(t, join(dir, 's0'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['album', '--only', 'a/b/**', '--only', '*.sh'])
    assert.equal(r.code, 0, `${r.stderr}\n${r.log}`)
    const receipt = r.result as unknown as FolderReceipt
    const listing = await treeListing(receipt.path)
    assert.deepEqual(
      listing.map((l) => l.split(' ')[0]),
      ['a/', 'a/b/', 'a/b/c/', 'a/b/c/deep.bin', 'run.sh'],
    )
    const entry = (await new ChunkStore(join(dir, 'd', 'chunks')).scan())[0]!
    assert.equal(entry.have.count(), 4 + 1, 'only the chosen files’ chunks are in the store')
    const none = await runDownload(join(dir, 'd2'), udp, ['album', '--only', 'nothing/**'])
    assert.equal(none.code, 3, none.stderr)
    assert.equal((none.result as { code?: string }).code, 'E_NOT_FOUND')
    // The name as listings show a folder and shells complete it: it was E_BAD_NAME ("must not contain /").
    const slashed = await runDownload(join(dir, 'd3'), udp, ['album/', '--only', 'run.sh'])
    assert.equal(slashed.code, 0, slashed.stderr)
  })

  it('resumes a folder after SIGKILL, and a finished downloader reseeds it alone', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const spec: TreeSpec = {}
    for (let i = 0; i < 40; i++) spec[`f/${String(i).padStart(2, '0')}.bin`] = 200 * KiB + i
    spec['empty/'] = 0
    const { folder, id } = await seededFolder(dir, spec, 'big')
    const origin = await startSeeder(t, join(dir, 's0'), udp)
    const child = spawn(process.execPath, [BIN('p2p-download'), 'big', ...downloadArgs(join(dir, 'd'), udp)], {
      stdio: 'ignore',
    })
    onCleanup(t as Cleanup, () => {
      child.kill('SIGKILL')
    })
    const exited = once(child, 'exit')
    const store = new ChunkStore(join(dir, 'd', 'chunks'))
    for (const deadline = Date.now() + 60_000; ((await store.scan())[0]?.have.count() ?? 0) < 20; ) {
      assert.ok(Date.now() < deadline, 'some chunks stored within 60 s')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    child.kill('SIGKILL')
    await exited
    const r = await runDownload(join(dir, 'd'), udp, ['big'])
    assert.equal(r.code, 0, `${r.stderr}\n${r.log}`)
    const receipt = r.result as unknown as FolderReceipt
    assert.ok(receipt.resumedBytes > 0, `resumed ${receipt.resumedBytes}`)
    assert.deepEqual(await treeListing(receipt.path), await treeListing(folder))
    assert.deepEqual(await readdir(join(dir, 'd', 'downloads')), ['big'], 'the killed run’s temporary tree removed')
    // Reseeding: the origin leaves; the finished downloader serves the folder by global chunk index.
    await origin.serve.stop()
    await origin.announce.stop()
    await startSeeder(t, join(dir, 'd'), udp)
    const second = await runDownload(join(dir, 'd2'), udp, ['--id', id])
    assert.equal(second.code, 0, `${second.stderr}\n${second.log}`)
    assert.deepEqual(await treeListing((second.result as unknown as FolderReceipt).path), await treeListing(folder))
  })

  it('split warns about links it skipped and follows inside ones with --follow-symlinks', async (t) => {
    const dir = await tmpDir(t)
    const folder = join(dir, 'tree')
    await makeTree(folder, { 'real.txt': 'real' })
    await makeTree(join(dir, 'secret'), { 'key.txt': 'secret' })
    await symlink(join(dir, 'secret'), join(folder, 'out'))
    await symlink('real.txt', join(folder, 'in.txt'))
    const plain = await runBin('p2p-split', [folder, ...storeArgs(join(dir, 'a'))])
    assert.equal(plain.code, 0, plain.stderr)
    assert.match(plain.stderr, /skipped 2 entries/)
    assert.match(plain.stdout, /1 file,/)
    const follow = await runBin('p2p-split', [folder, '--follow-symlinks', '--json', ...storeArgs(join(dir, 'b'))])
    assert.equal(follow.code, 0, follow.stderr)
    const result = JSON.parse(follow.stdout) as { files: number; skipped: Array<{ path: string; why: string }> }
    assert.equal(result.files, 2, 'in.txt followed')
    assert.deepEqual(
      result.skipped.map((s) => s.path),
      ['out'],
      'a link leading out of the folder is never followed',
    )
  })
})
