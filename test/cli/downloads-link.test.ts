import assert from 'node:assert/strict'
import { mkdir, readdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { freeUdpPort, runDownload, split, startSeeder } from '../helpers/swarm.js'
import { makeTree, treeListing } from '../helpers/tree-files.js'

describe('a downloads directory that is a link to another (real processes)', () => {
  it('a file and a folder are placed through it, synced, exit 0 (the sync refused to follow the link: E_IO, exit 6, the file placed)', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    await randomFile(join(dir, 'f.bin'), 300_000)
    await makeTree(join(dir, 'album'), { 'a/one.bin': 70_000, 'two.txt': 'two', 'empty/': 0 })
    await split(join(dir, 'seed'), join(dir, 'f.bin'), ['--chunk-size', '64KiB'])
    await split(join(dir, 'seed'), join(dir, 'album'), ['--chunk-size', '64KiB'])
    await startSeeder(t, join(dir, 'seed'), udp)
    // `~/Downloads` linked to another disk: the user's choice, followed.
    const client = join(dir, 'client')
    await mkdir(join(client, 'elsewhere'), { recursive: true })
    await symlink('elsewhere', join(client, 'downloads'))

    const file = await runDownload(client, udp, ['f.bin'])
    assert.equal(file.code, 0, `${file.stderr}\n${file.log}`)
    assert.equal(await sha256File(join(client, 'elsewhere', 'f.bin')), await sha256File(join(dir, 'f.bin')))

    const folder = await runDownload(client, udp, ['album'])
    assert.equal(folder.code, 0, `${folder.stderr}\n${folder.log}`)
    assert.deepEqual(await treeListing(join(client, 'elsewhere', 'album')), await treeListing(join(dir, 'album')))
    assert.deepEqual((await readdir(join(client, 'elsewhere'))).sort(), ['album', 'f.bin'], 'nothing else left there')
  })
})
