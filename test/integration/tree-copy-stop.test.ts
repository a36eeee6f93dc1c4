import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TreeBuilder } from '../../src/core/download/tree-writer.js'
import { tmpDir } from '../helpers/files.js'

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

describe('abandoning a folder download while a large file is copied out of data', () => {
  it('stops that copy at its next piece (1 MiB), not at the end of the file (a 2 GiB one held a Ctrl-C 15 s)', async (t) => {
    const base = await tmpDir(t)
    const entryDir = join(base, 'chunks', 'entry')
    await mkdir(entryDir, { recursive: true })
    const chunkSize = 16 * 1024 * 1024
    const size = 4 * chunkSize
    const chunk = sha(Buffer.alloc(chunkSize))
    const entries = [{ path: 'big.bin', size, chunks: [chunk, chunk, chunk, chunk], sha256: sha(Buffer.alloc(size)) }]
    const manifest = { version: 2 as const, name: 'big', chunkSize, entries }
    let reads = 0
    let builder: TreeBuilder | undefined
    let abandoned: Promise<void> | undefined
    const options = {
      ...{ manifest, id: 'x', downloadsDir: join(base, 'downloads'), entryDir },
      read: async (into: Buffer, length: number): Promise<void> => {
        into.fill(0, 0, length)
        if (++reads === 2) abandoned = builder!.abandon() // Ctrl-C, two pieces into the copy
      },
      readSync: (): void => {
        throw new Error('a file larger than one piece is read piece by piece')
      },
    }
    builder = await TreeBuilder.start(options)
    for (let i = 0; i < entries[0]!.chunks.length; i++) builder.chunkDone(i)
    for (let i = 0; i < 1000 && abandoned === undefined; i++) await new Promise((r) => setTimeout(r, 10))
    await abandoned
    assert.ok(reads >= 2 && reads <= 3, `${reads} pieces of 64 read`)
    assert.deepEqual(await readdir(join(base, 'downloads')), [], 'the temporary tree removed')
  })
})

describe("a folder download's receipt", () => {
  it('says where each file was saved when its name was made portable (a script joining `path` found nothing)', async (t) => {
    const base = await tmpDir(t)
    const entryDir = join(base, 'chunks', 'entry')
    await mkdir(entryDir, { recursive: true })
    const bytes = Buffer.from('abc')
    const file = (path: string) => ({ path, size: 3, chunks: [sha(bytes)], sha256: sha(bytes) })
    const files = [file('CON'), file('docs/a:b.txt'), file('plain.txt')]
    const entries = [files[0]!, { path: 'docs', type: 'dir' as const }, ...files.slice(1)]
    const manifest = { version: 2 as const, name: 'album', chunkSize: 16384, entries }
    const fill = (into: Buffer, length: number): void => void bytes.copy(into, 0, 0, length)
    const builder = await TreeBuilder.start({
      ...{ manifest, id: 'x', downloadsDir: join(base, 'downloads'), entryDir },
      ...{ read: async (into: Buffer, length: number) => fill(into, length), readSync: fill },
    })
    for (let i = 0; i < files.length; i++) builder.chunkDone(i)
    const built = await builder.finish()
    assert.deepEqual(
      built.files.map((f) => [f.path, f.savedAs]),
      [
        ['CON', 'CON_'],
        ['docs/a:b.txt', join('docs', 'a_b.txt')],
        ['plain.txt', undefined],
      ],
    )
    for (const f of built.files) assert.equal(await readFile(join(built.path, f.savedAs ?? f.path), 'utf8'), 'abc')
  })
})
