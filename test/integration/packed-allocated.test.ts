import assert from 'node:assert/strict'
import { mkdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { packedAllocatedBytes, packedDataPath } from '../../src/core/packed.js'
import { tmpDir } from '../helpers/files.js'

/**
 * What a resume's free-space check counts as held already (downloader.ts):
 * the blocks `data` has, listed in `data.have` or not. An attacker pass
 * found a resume after a full disk refused with E_NO_SPACE although every
 * chunk it had to write again had its blocks (only `data.have` was counted).
 */
describe("the room a store entry's data holds", () => {
  it('counts written blocks, not a sparse length, and nothing for no data', async (t) => {
    const dir = await tmpDir(t)
    const entry = join(dir, 'f.bin')
    await mkdir(entry)
    assert.equal(await packedAllocatedBytes(entry), 0)
    await writeFile(packedDataPath(entry), Buffer.alloc(1 << 20, 1))
    await truncate(packedDataPath(entry), 64 << 20) // a hole after the first MiB
    const held = await packedAllocatedBytes(entry)
    assert.ok(held >= 1 << 20 && held < 2 << 20, `${held} bytes`)
  })
})
