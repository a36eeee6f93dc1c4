import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { listDir, listEntryFiles, listNames } from '../../src/core/store-listing.js'
import { tmpDir } from '../helpers/files.js'

/** What can sit at a name inside an entry directory, and whether a scan reads it (a regular file of a scanned name). */
const KINDS = ['file', 'link to a file', 'directory', 'fifo'] as const
const FILE_NAMES = ['manifest.json', 'data.have', 'data', '000000.chunk', '000017.chunk', '1234567.chunk', '12.chunk']
const OTHER_NAMES = ['000001.chunk.tmp-9-ab', 'manifest.json.tmp-1-cd', 'x.chunk', '.hidden', 'notes.txt']
/** A listing as `<dirName>/<file>` strings, to compare with what a test made. */
const asPaths = (files: { dirName: string; file: string }[]): string[] => files.map((f) => `${f.dirName}/${f.file}`)
const SCANNED = (name: string) => ['manifest.json', 'data.have'].includes(name) || /^\d{6,}\.chunk$/.test(name)

const entryArb = fc.record({
  dirName: fc.constantFrom('a.bin', '.dotted', 'x.tmp-1', '.p2p', 'ümlaut', 'id0123', 'spaced name'),
  asLink: fc.boolean(), // the entry itself a link to a directory: never followed
  files: fc.uniqueArray(
    fc.record({ name: fc.constantFrom(...FILE_NAMES, ...OTHER_NAMES), kind: fc.constantFrom(...KINDS) }),
    { selector: (f) => f.name, maxLength: 8 },
  ),
})

describe('store listing (store-listing.ts)', () => {
  it('lists exactly the regular files a scan reads, in real entry directories other than .p2p, following no link', async (t) => {
    const base = await tmpDir(t)
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(entryArb, { selector: (e) => e.dirName, maxLength: 5 }), async (entries) => {
        const root = join(base, `store-${run++}`)
        const outside = join(base, `outside-${run}`)
        await mkdir(root, { recursive: true })
        await mkdir(outside, { recursive: true })
        await writeFile(join(root, 'manifest.json'), '{}') // a file in the root itself is no entry
        const expected: string[] = []
        const fifos: string[] = []
        for (const entry of entries) {
          const dir = entry.asLink ? join(outside, entry.dirName) : join(root, entry.dirName)
          await mkdir(dir, { recursive: true })
          if (entry.asLink) await symlink(dir, join(root, entry.dirName))
          for (const { name, kind } of entry.files) {
            const path = join(dir, name)
            if (kind === 'file') await writeFile(path, 'x')
            else if (kind === 'directory') await mkdir(path)
            else if (kind === 'fifo') fifos.push(path)
            else {
              await writeFile(join(outside, `target-${name}`), 'x')
              await symlink(join(outside, `target-${name}`), path)
            }
            if (!entry.asLink && entry.dirName !== '.p2p' && kind === 'file' && SCANNED(name))
              expected.push(`${entry.dirName}/${name}`)
          }
        }
        if (fifos.length > 0) execFileSync('mkfifo', fifos) // one process per run, not one per FIFO
        assert.deepEqual(asPaths(await listEntryFiles(root)).sort(), expected.sort())
      }),
      { numRuns: 60 },
    )
  })

  it('a store or a directory not there lists nothing; an entry that cannot be read is left out and reported, the root throws', async (t) => {
    const base = await tmpDir(t)
    assert.deepEqual(await listEntryFiles(join(base, 'none')), [])
    assert.deepEqual(await listNames(join(base, 'none')), [])
    await writeFile(join(base, 'file'), 'x')
    assert.deepEqual(await listNames(join(base, 'file')), [], 'a file where a directory was: gone as a directory')
    await mkdir(join(base, 'names'))
    for (const name of ['.hidden', 'a', 'b.tmp-1']) await writeFile(join(base, 'names', name), '')
    assert.deepEqual((await listNames(join(base, 'names'))).sort(), ['.hidden', 'a', 'b.tmp-1'])
    // Unreadable directories, made so for any user (root reads every directory whatever its mode).
    const root = join(base, 'store')
    for (const dir of ['good', 'lost+found']) await mkdir(join(root, dir), { recursive: true })
    await writeFile(join(root, 'good', 'manifest.json'), '{}')
    const denied = (path: string) => Object.assign(new Error(`EACCES: ${path}`), { code: 'EACCES', path })
    const reader = (refuse: string) => (dir: string) =>
      dir === refuse ? Promise.reject(denied(dir)) : readdir(dir, { withFileTypes: true })
    const reported: string[] = []
    const listed = await listEntryFiles(root, (dirName) => reported.push(dirName), reader(join(root, 'lost+found')))
    assert.deepEqual(asPaths(listed), ['good/manifest.json'])
    assert.deepEqual(reported, ['lost+found'])
    await assert.rejects(
      listEntryFiles(root, () => undefined, reader(root)),
      /EACCES/,
    )
  })

  it('a name gone before its type was read (a filesystem that lists no types) is left out, not the whole directory', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'a'), 'x')
    await mkdir(join(dir, 'd'))
    await symlink(join(dir, 'a'), join(dir, 'l'))
    const gone = (path: string) => () =>
      Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT', path }))
    const listed = await listDir(dir, gone(join(dir, 'renamed.tmp-1-deadbeef')))
    const kinds = listed.map((d) => `${d.name}:${d.isFile() ? 'file' : d.isDirectory() ? 'dir' : 'other'}`).sort()
    assert.deepEqual(kinds, ['a:file', 'd:dir', 'l:other'])
    assert.deepEqual(await listDir(dir, gone(dir)), [], 'the directory itself gone: nothing')
  })
})
