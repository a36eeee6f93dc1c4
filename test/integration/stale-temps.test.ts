import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { access, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { tempOwner, tempPathFor } from '../../src/core/disk.js'
import { STALE_AFTER_MS, sweepStaleTemps } from '../../src/core/stale-temps.js'
import { ChunkStore } from '../../src/core/store.js'
import { tmpDir } from '../helpers/files.js'

/**
 * A real process that writes a temporary file next to `path` (as tempPathFor names it) and is then SIGKILLed;
 * unless `fresh`, the file is then made as old as a stale one must be.
 */
async function killedWriter(path: string, fresh = false): Promise<string> {
  const script = `const fs = require('node:fs'); const p = process.argv[1] + '.tmp-' + process.pid + '-deadbeef';
    fs.writeFileSync(p, 'partial'); console.log(p); setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['-e', script, path], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 20_000 })
  const written = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim()))
    child.once('exit', () => reject(new Error('the writer exited before writing')))
  })
  await killed(child)
  const old = (Date.now() - STALE_AFTER_MS - 60_000) / 1000
  if (!fresh) await utimes(written, old, old)
  return basename(written)
}

async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

describe('stale temporary files (stale-temps.ts)', () => {
  it('tempOwner reads the pid of every name tempPathFor makes, and of no other form', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (name) => {
        assert.equal(tempOwner(basename(tempPathFor(join('/store', name.replaceAll('/', '_'))))), process.pid)
      }),
    )
    for (const name of [
      'a.tmp-0-deadbeef',
      'a.tmp-12-deadbee',
      'a.tmp-12-DEADBEEF',
      'a.tmp-12-deadbeef.x',
      'a.tmp-x-deadbeef',
    ])
      assert.equal(tempOwner(name), undefined, name)
    assert.equal(tempOwner(`a.tmp-${'9'.repeat(20)}-deadbeef`), undefined)
  })

  it('tempPathFor never names the same temporary file twice in a process', () => {
    const names = new Set(Array.from({ length: 20_000 }, () => tempPathFor('/store/e/data.have')))
    assert.equal(names.size, 20_000)
    for (const name of names) assert.equal(tempOwner(basename(name)), process.pid)
  })

  it("a killed process's temporary files go when their entry is used again; a running process's, a recently written one, links, directories and other names stay", async (t) => {
    const root = await tmpDir(t)
    const store = new ChunkStore(join(root, 'chunks'))
    await store.init()
    const dir = await store.makeEntryDir('f.bin')
    const chunkTemp = await killedWriter(join(dir, '000001.chunk'))
    const dataTemp = await killedWriter(join(dir, 'data'))
    // Written by a process that looks dead from here but wrote it lately (another pid namespace): it stays.
    const recent = await killedWriter(join(dir, 'manifest.json'), true)
    const deadPid = tempOwner(chunkTemp)!
    // A running writer's file, a link and a directory under a killed process's name, other names: all stay.
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', timeout: 20_000 })
    t.after(() => killed(live))
    const outside = join(root, 'outside.txt')
    await writeFile(outside, 'not the store')
    const kept = [
      recent,
      `data.have.tmp-${live.pid}-0123abcd`,
      `000002.chunk.tmp-${process.pid}-0123abcd`,
      `link.tmp-${deadPid}-aaaaaaaa`,
      `sub.tmp-${deadPid}-bbbbbbbb`,
      '000002.chunk',
      'notes.tmp-1',
    ]
    await writeFile(join(dir, kept[1]!), 'live')
    await writeFile(join(dir, kept[2]!), 'ours')
    await symlink(outside, join(dir, kept[3]!))
    await mkdir(join(dir, kept[4]!))
    await writeFile(join(dir, kept[5]!), 'chunk')
    await writeFile(join(dir, kept[6]!), 'other')
    const old = (Date.now() - 2 * STALE_AFTER_MS) / 1000
    for (const name of kept.slice(1)) await utimes(join(dir, name), old, old).catch(() => undefined) // all old: only the rule keeps them
    assert.ok((await readdir(dir)).includes(chunkTemp) && (await readdir(dir)).includes(dataTemp))
    await store.makeEntryDir('f.bin')
    assert.deepEqual((await readdir(dir)).sort(), [...kept].sort())
  })

  it("a lock's temporary file left by a killed process goes when the next lock there is taken", async (t) => {
    const root = await tmpDir(t)
    const store = new ChunkStore(join(root, 'chunks'))
    await store.init()
    const locks = join(store.root, '.p2p', 'locks')
    await mkdir(locks, { recursive: true })
    const left = await killedWriter(join(locks, `${'a'.repeat(64)}.lock`))
    const release = await store.lock('b'.repeat(64), 'b')
    await assert.rejects(access(join(locks, left)), { code: 'ENOENT' })
    await release()
    assert.deepEqual(await readdir(locks), [])
  })

  it('sweeps only what the injected check calls stale, and a directory not there is nothing', async (t) => {
    const dir = await tmpDir(t)
    const [a, b, c] = [1, 2, 3].map((n) => process.pid + n) // never our own, which is always skipped
    for (const pid of [a, b, c]) await writeFile(join(dir, `c.tmp-${pid}-0000000${pid % 10}`), '')
    const later = Date.now() + STALE_AFTER_MS
    assert.equal(await sweepStaleTemps(dir, () => false, later - 60_000), 0, 'not yet unwritten for long enough')
    assert.equal(await sweepStaleTemps(dir, (pid) => pid === b, later + 1000), 2)
    assert.deepEqual(await readdir(dir), [`c.tmp-${b}-0000000${b! % 10}`])
    assert.equal(await sweepStaleTemps(join(dir, 'none')), 0)
  })
})
