import assert from 'node:assert/strict'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { sha256File } from '../helpers/files.js'
import { downloadArgs, freeUdpPort, runDownload, seeded, startSeeder } from '../helpers/swarm.js'

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
      /no peer announced "f\.bin" within 1 s; the chunk store holds it whole \(id [0-9a-f]{12}…\): placed from there/,
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
})
