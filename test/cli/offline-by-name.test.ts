import assert from 'node:assert/strict'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, runDownload, seeded, split, startSeeder } from '../helpers/swarm.js'
import { ALBUM, ALBUM_CHUNK, makeTree, treeListing } from '../helpers/tree-files.js'

/**
 * A download by name that no peer announces, of a file its chunk store holds (downloaded before, the seeder gone):
 * whole, it is placed from the store, as `--id` does offline (a UX audit: by name it was E_NOT_FOUND, "is a seeder
 * running?"); in part, the error says how much the store holds and that the same command resumes it.
 */
describe('a download by name with no peer, of what the chunk store holds', () => {
  it('whole: placed from the store, byte-identical; in part: E_NOT_FOUND naming what is held', async (t) => {
    const { dir, sha } = await seeded(t, 700_000) // three chunks of 256 KiB
    const udp = await freeUdpPort()
    const seeder = await startSeeder(t, join(dir, 'seed'), udp)
    const first = await runDownload(join(dir, 'd'), udp, ['f.bin'])
    assert.equal(first.code, 0, first.stderr + first.log)
    const path = first.result?.path as string
    await rm(path)
    await Promise.all([seeder.serve.stop(), seeder.announce.stop()])
    const nobody = await freeUdpPort() // and no announcer there
    const offline = await runDownload(join(dir, 'd'), nobody, ['f.bin', '--wait', '1'])
    assert.equal(offline.code, 0, offline.stderr + offline.log)
    assert.equal(offline.result?.path, path)
    assert.equal(await sha256File(path), sha)
    assert.doesNotMatch(offline.stderr, /holds it whole/, 'with --json, stdout is the receipt and stderr is quiet')
    await rm(path)
    const args = downloadArgs(join(dir, 'd'), nobody, ['f.bin', '--wait', '1']).filter((a) => a !== '--json')
    const plain = await runBin('p2p-download', args)
    assert.equal(plain.code, 0, plain.stderr)
    assert.match(
      plain.stderr,
      /no peer announced "f\.bin" within 1 s; the chunk store holds it whole \(id [0-9a-f]{12}…\): placing it from there/,
    )
    assert.equal(await sha256File(path), sha)
    await rm(path)
    // An interrupted download: its data.have lists two of the three chunks.
    await writeFile(join(dir, 'd', 'chunks', 'f.bin', 'data.have'), Buffer.from([0b1100_0000]))
    const part = await runDownload(join(dir, 'd'), nobody, ['f.bin', '--wait', '1'])
    assert.equal(part.code, 3, part.stderr)
    assert.match(
      part.stderr,
      /the chunk store holds 2 of its 3 chunks \(id [0-9a-f]{64}\): the same command resumes it/,
    )
  })

  it('two files of the name in the store: E_AMBIGUOUS naming both, nothing placed; a name that is an id is no name held', async (t) => {
    // One split here, another of the same name downloaded by id: its entry directory is named by its id.
    const { dir, id } = await seeded(t, 500_000)
    const d = join(dir, 'd')
    await split(d, join(dir, 'f.bin'), ['--chunk-size', '256KiB'])
    await mkdir(join(dir, 'other'))
    await randomFile(join(dir, 'other', 'f.bin'), 300_000)
    const { id: other } = await split(join(dir, 'seed2'), join(dir, 'other', 'f.bin'), ['--chunk-size', '256KiB'])
    const udp = await freeUdpPort()
    const seeder = await startSeeder(t, join(dir, 'seed2'), udp)
    const fetched = await runDownload(d, udp, ['--id', other])
    assert.equal(fetched.code, 0, fetched.stderr + fetched.log)
    await Promise.all([seeder.serve.stop(), seeder.announce.stop()])
    await rm(join(d, 'downloads'), { recursive: true })
    const nobody = await freeUdpPort()
    const byName = await runDownload(d, nobody, ['f.bin', '--wait', '1'])
    assert.equal(byName.code, 2, byName.stderr)
    assert.equal(byName.result?.code, 'E_AMBIGUOUS')
    assert.match(byName.stderr, new RegExp(`the chunk store holds 2 files named "f\\.bin".*${id}.*pick one with --id`))
    assert.match(byName.stderr, new RegExp(other))
    // The directory the id-named entry has is not a file of that name: no file named so is held.
    const hex = await runDownload(d, nobody, [other, '--wait', '1'])
    assert.equal(hex.code, 3, hex.stderr)
    assert.match(hex.stderr, /if that is an id: give it with --id/)
    assert.deepEqual(await readdir(join(d, 'downloads')).catch(() => []), [])
  })

  it('a folder held in part: what --only chooses of it, held whole, is placed', async (t) => {
    const dir = await tmpDir(t)
    await makeTree(join(dir, 'src', 'album'), ALBUM)
    await split(join(dir, 's0'), join(dir, 'src', 'album'), ['--chunk-size', String(ALBUM_CHUNK)])
    const udp = await freeUdpPort()
    const seeder = await startSeeder(t, join(dir, 's0'), udp)
    const d = join(dir, 'd')
    const first = await runDownload(d, udp, ['album', '--only', 'a/b/**'])
    assert.equal(first.code, 0, first.stderr + first.log)
    const path = first.result?.path as string
    const listing = await treeListing(path)
    await Promise.all([seeder.serve.stop(), seeder.announce.stop()])
    await rm(path, { recursive: true })
    const nobody = await freeUdpPort()
    const again = await runDownload(d, nobody, ['album', '--only', 'a/b/**', '--wait', '1'])
    assert.equal(again.code, 0, again.stderr + again.log)
    assert.deepEqual(await treeListing(again.result?.path as string), listing)
    // The whole folder is not held: that is still E_NOT_FOUND, naming what is.
    const whole = await runDownload(d, nobody, ['album', '--wait', '1'])
    assert.equal(whole.code, 3, whole.stderr)
    assert.match(whole.stderr, /the chunk store holds \d+ of its \d+ chunks/)
  })

  it('with --allow, a stranger off the list announcing the name keeps nothing the store holds whole from being placed', async (t) => {
    const { dir, sha } = await seeded(t, 500_000)
    const udp = await freeUdpPort()
    const seeder = await startSeeder(t, join(dir, 'seed'), udp)
    const allow = ['--allow', seeder.peerId]
    const d = join(dir, 'd')
    const first = await runDownload(d, udp, ['f.bin', ...allow])
    assert.equal(first.code, 0, first.stderr + first.log)
    const path = first.result?.path as string
    await Promise.all([seeder.serve.stop(), seeder.announce.stop()])
    await rm(path)
    // A stranger's file of the name, announced where the download listens: it was E_AUTH, "add its peer ID to
    // --allow if you trust it", for a file the store held whole.
    await mkdir(join(dir, 'theirs'))
    await randomFile(join(dir, 'theirs', 'f.bin'), 400_000)
    await split(join(dir, 'stranger'), join(dir, 'theirs', 'f.bin'), ['--chunk-size', '256KiB'])
    await startSeeder(t, join(dir, 'stranger'), udp)
    const again = await runDownload(d, udp, ['f.bin', '--wait', '2', ...allow])
    assert.equal(again.code, 0, again.stderr + again.log)
    assert.equal(again.result?.path, path)
    assert.equal(await sha256File(path), sha)
  })
})
