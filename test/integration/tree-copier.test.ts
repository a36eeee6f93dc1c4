import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, writeFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { TempTree } from '../../src/core/download/temp-tree.js'
import { THREAD_COPY_BYTES, TreeCopier } from '../../src/core/download/tree-copier.js'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { tmpDir } from '../helpers/files.js'

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** A store's packed `data` of random bytes, open for reading, and a temporary tree beside it. */
async function setup(t: Parameters<typeof tmpDir>[0], size = 256 * 1024) {
  const base = await tmpDir(t)
  const entry = join(base, 'chunks', 'album')
  await mkdir(entry, { recursive: true })
  const bytes = randomBytes(size)
  writeFileSync(join(entry, 'data'), bytes)
  const fd = openSync(join(entry, 'data'), 'r')
  t.after(() => closeSync(fd))
  const downloads = join(base, 'downloads')
  const tree = await TempTree.create({
    ...{ downloadsDir: downloads, name: 'album', recordPath: join(entry, 'tree.part') },
    ...{ storeRoot: join(base, 'chunks'), syncFilesystem: false },
  })
  const copier = new TreeCopier()
  t.after(() => copier.close())
  /** `length` bytes at `offset` of `data` copied to `path`, checked against `sha256` (theirs by default). */
  const copy = (path: string, offset: number, length: number, options: { sha256?: string; hash?: boolean } = {}) =>
    tree.addCopiedFile(
      path,
      false,
      { size: length, sha256: options.sha256 ?? sha(bytes.subarray(offset, offset + length)) },
      { copier, source: { fd }, offset, hash: options.hash ?? true },
      (got) => new P2PError('E_CHECKSUM', `hashes to ${got}`),
    )
  return { base, bytes, downloads, tree, copier, copy }
}

describe('a folder’s small files copied on the copy thread (tree-copier.ts)', () => {
  it('copies each file byte for byte, at its place in the tree, which is then placed', async (t) => {
    const { bytes, downloads, tree, copy } = await setup(t)
    tree.addDir('d')
    tree.addDir('d/e')
    await Promise.all([copy('a', 0, 1000), copy('d/b', 1000, 70_000), copy('d/e/c', 71_000, 1)])
    const placed = await tree.place()
    assert.equal(placed.path, join(downloads, 'album'))
    assert.equal(sha(await readFile(join(placed.path, 'a'))), sha(bytes.subarray(0, 1000)))
    assert.equal(sha(await readFile(join(placed.path, 'd', 'b'))), sha(bytes.subarray(1000, 71_000)))
    assert.equal(sha(await readFile(join(placed.path, 'd', 'e', 'c'))), sha(bytes.subarray(71_000, 71_001)))
  })

  it('refuses bytes that do not hash to the manifest’s value, and data shorter than the file', async (t) => {
    const { tree, copy } = await setup(t, 4096)
    await assert.rejects(copy('a', 0, 100, { sha256: 'f'.repeat(64) }), (err) => hasCode(err, 'E_CHECKSUM'))
    await assert.rejects(copy('b', 4000, 200), (err) => hasCode(err, 'E_IO') && /shorter/.test(err.message))
    // Not hashed (a file of one chunk, checked as that chunk): copied as it is.
    await copy('c', 0, 100, { sha256: 'f'.repeat(64), hash: false })
    assert.equal(tree.made.slotOf('a'), undefined, 'a refused file is not recorded as made')
    assert.equal(tree.made.slotOf('b'), undefined)
    assert.notEqual(tree.made.slotOf('c'), undefined)
  })

  it('never writes through a directory above the file replaced by a link, nor through a link at its own name', async (t) => {
    const { base, tree, copy } = await setup(t)
    const outside = join(base, 'outside')
    await mkdir(outside)
    tree.addDir('a')
    tree.addDir('a/b')
    tree.addDir('d')
    await rename(join(tree.root, 'a'), join(outside, 'a'))
    await symlink(join(outside, 'a'), join(tree.root, 'a'))
    await assert.rejects(copy('a/b/f', 0, 10), (err) => hasCode(err, 'E_IO') && /replaced/.test(err.message))
    assert.deepEqual(await readdir(join(outside, 'a', 'b')), [], 'nothing written through the link')
    await writeFile(join(outside, 'file'), 'untouched')
    await symlink(join(outside, 'file'), join(tree.root, 'd', 'g'))
    await assert.rejects(copy('d/g', 0, 10), (err) => hasCode(err, 'E_EXISTS') || hasCode(err, 'E_IO'))
    assert.equal(await readFile(join(outside, 'file'), 'utf8'), 'untouched')
  })

  it('answers a request the thread cannot carry out with an error, and takes nothing over its size', async (t) => {
    const { tree, copier, copy } = await setup(t)
    tree.addDir('x')
    const bad = tree.addCopiedFile(
      'x/y',
      false,
      { size: 10, sha256: '0'.repeat(64) },
      { copier, source: { fd: 1_000_000 }, offset: 0, hash: true },
      () => new Error('unexpected'),
    )
    await assert.rejects(bad, (err) => err instanceof P2PError && /EBADF|bad file/i.test(err.message))
    await assert.rejects(
      copier.copy({
        ...{ chain: [], target: join(tree.root, 'big'), exec: false, source: { fd: 0 }, offset: 0 },
        ...{ size: THREAD_COPY_BYTES + 1, hash: false, sha256: '', sync: false },
      }),
      (err) => hasCode(err, 'E_INTERNAL'),
    )
    await copy('x/z', 0, 10) // the thread goes on after a failed request
  })

  it('settles every copy exactly once, whenever it is closed; none starts after', async (t) => {
    const { base } = await setup(t)
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('good', 'bad-hash', 'short', 'bad-fd'), { minLength: 0, maxLength: 12 }),
        fc.nat({ max: 12 }),
        async (kinds, closeAfter) => {
          const dir = join(base, `run-${run++}`)
          await mkdir(dir)
          const data = join(dir, 'data')
          writeFileSync(data, randomBytes(1000))
          const fd = openSync(data, 'r')
          const copier = new TreeCopier()
          const settled = new Array<number>(kinds.length).fill(0)
          const copies = kinds.map((kind, i) => {
            if (i === closeAfter) void copier.close()
            return copier
              .copy({
                ...{ chain: [], target: join(dir, `f${i}`), exec: false },
                ...{ source: { fd: kind === 'bad-fd' ? 1_000_000 : fd }, offset: kind === 'short' ? 990 : 0 },
                ...{ size: 20, hash: kind === 'bad-hash', sha256: '0'.repeat(64), sync: false },
              })
              .then(
                () => settled[i]!++,
                () => settled[i]!++,
              )
          })
          await copier.close()
          await Promise.all(copies)
          closeSync(fd)
          assert.deepEqual(settled, new Array(kinds.length).fill(1), 'each copy settled once')
          assert.equal(copier.load, 0, 'nothing left pending')
          await assert.rejects(
            copier.copy({
              ...{ chain: [], target: join(dir, 'late'), exec: false, source: { fd: 0 }, offset: 0 },
              ...{ size: 1, hash: false, sha256: '', sync: false },
            }),
            (err) => hasCode(err, 'E_INTERRUPTED'),
          )
          assert.deepEqual(
            (await readdir(dir)).filter((n) => n === 'late'),
            [],
            'no copy after the close',
          )
        },
      ),
      { numRuns: 40 },
    )
  })
})
