// The temporary tree made durable and stoppable: which directories and files are synced, `sync -f` only where
// trusted, placing stopped by an abort, the event loop turning while many empty files are made.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { release } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TempTree, YIELD_EVERY } from '../../src/core/download/temp-tree.js'
import { expectFilesystemSync, filesystemSyncFor, syncFilesystem } from '../../src/core/download/tree-durable.js'
import { TreeBuilder } from '../../src/core/download/tree-writer.js'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { EMPTY_SHA256 } from '../../src/core/tree-manifest.js'
import { tmpDir } from '../helpers/files.js'
import { put, setup } from '../helpers/temp-tree.js'

describe('temporary tree of a folder download', () => {
  it('syncs each directory that received entries once, not every directory (2,000 empty ones: one fsync)', async (t) => {
    const { downloads, options } = await setup(t)
    const tree = await TempTree.create({ ...options, syncFilesystem: false })
    for (let i = 0; i < 2000; i++) tree.addDir(`e${String(i).padStart(4, '0')}`)
    for (const path of ['a', 'a/b', 'a/b/c', 'a/b/empty.txt']) {
      if (path.endsWith('.txt')) tree.addEmptyFile(path, false)
      else tree.addDir(path)
    }
    const placed = await tree.place()
    assert.equal(placed.durable.dirs, 3, 'the root, a and a/b; never an empty directory (2,000 of them, and c)')
    assert.equal((await readdir(join(downloads, 'album'))).length, 2001)
  })

  it('makes written files durable by one filesystem sync, not a sync each; each file and directory when it fails', async (t) => {
    const realFdatasync = fs.fdatasync
    let eachSynced = 0
    fs.fdatasync = ((...args: Parameters<typeof fs.fdatasync>) => {
      eachSynced++
      return realFdatasync(...args)
    }) as typeof fs.fdatasync
    syncBuiltinESMExports()
    t.after(() => {
      fs.fdatasync = realFdatasync
      syncBuiltinESMExports()
    })
    const cases = [
      { filesystem: true, expect: { eachSynced: 0, durable: { filesystem: true, files: 0, dirs: 0 } } },
      { filesystem: false, expect: { eachSynced: 0, durable: { filesystem: false, files: 3, dirs: 2 } } },
      { filesystem: undefined, expect: { eachSynced: 3, durable: { filesystem: false, files: 0, dirs: 2 } } },
    ]
    for (const { filesystem, expect } of cases) {
      const { downloads, options } = await setup(t)
      const asked: string[] = []
      const syncFilesystem =
        filesystem === undefined
          ? (false as const)
          : async (path: string) => {
              asked.push(path)
              return filesystem
            }
      const tree = await TempTree.create({ ...options, syncFilesystem })
      tree.addDir('d')
      eachSynced = 0
      for (const [i, path] of ['a', 'd/b', 'd/c'].entries()) {
        const content = `file ${i}`
        await put(tree, path, content)
      }
      tree.addEmptyFile('d/empty', false)
      const placed = await tree.place()
      assert.deepEqual({ eachSynced, durable: placed.durable }, expect, `filesystem sync: ${filesystem}`)
      assert.deepEqual(asked, filesystem === undefined ? [] : [tree.root], 'one filesystem sync, of the tree')
      assert.equal(await readFile(join(downloads, 'album', 'd', 'c'), 'utf8'), 'file 2')
    }
  })

  it('syncs a filesystem with `sync -f` only where it is trusted (Linux 5.17 on, local filesystems)', async (t) => {
    const EXT4 = 0xef53
    assert.equal(expectFilesystemSync('linux', '5.17.0', EXT4), true)
    assert.equal(expectFilesystemSync('linux', '6.18.44-fc-v782', 0x58465342), true, 'xfs')
    assert.equal(
      expectFilesystemSync('linux', '5.16.20', EXT4),
      false,
      "before 5.17 syncfs dropped the filesystem's errors",
    )
    assert.equal(expectFilesystemSync('linux', '4.19.0', EXT4), false)
    assert.equal(expectFilesystemSync('linux', '6.1.0', 0x65735546), false, 'FUSE: syncfs may not reach the server')
    assert.equal(expectFilesystemSync('darwin', '23.1.0', EXT4), false)
    const base = await tmpDir(t)
    // A `sync` that never ends: an abort rejects at once, without waiting for it.
    const stuck = join(base, 'stuck-sync')
    await writeFile(stuck, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 })
    const stop = new AbortController()
    setTimeout(() => stop.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT')), 100)
    const started = performance.now()
    await assert.rejects(syncFilesystem(base, stop.signal, stuck), (err) => hasCode(err, 'E_INTERRUPTED'))
    assert.ok(performance.now() - started < 5000, 'rejected at once')
    assert.equal(await syncFilesystem(base, undefined, join(base, 'no-such-sync')), false, 'a missing command')
    const sync = await filesystemSyncFor(base)
    if (sync === undefined) return t.skip(`no trusted filesystem sync for ${base} on ${process.platform} ${release()}`)
    assert.equal(await sync(base), true)
    assert.equal(await sync(join(base, 'missing')), false)
  })

  it('stops placing when the signal aborts (between batches of checks), leaving nothing at the final name', async (t) => {
    const { downloads, options } = await setup(t)
    const tree = await TempTree.create(options)
    for (let i = 0; i < 5000; i++) tree.addDir(`e${String(i).padStart(4, '0')}`)
    const stop = new AbortController()
    setImmediate(() => stop.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT')))
    await assert.rejects(tree.place(stop.signal), (err) => hasCode(err, 'E_INTERRUPTED'))
    assert.ok(!(await readdir(downloads)).includes('album'), 'no final name claimed')
    await tree.discard()
    assert.deepEqual(await readdir(downloads), [])
  })
})

const realOpenSync = fs.openSync

describe('building a folder of many empty files', () => {
  it('lets the event loop turn while 30,000 empty files are made (at least once per YIELD_EVERY), and stops on abort', async (t) => {
    const base = await tmpDir(t)
    const entryDir = join(base, 'chunks', 'entry')
    await mkdir(entryDir, { recursive: true })
    const count = 30_000
    const entries = Array.from({ length: count }, (_, i) => ({
      path: `e${String(i).padStart(5, '0')}`,
      size: 0,
      chunks: [],
      sha256: EMPTY_SHA256,
    }))
    const manifest = { version: 2 as const, name: 'empties', chunkSize: 16384, entries }
    const options = {
      ...{ manifest, id: 'x', downloadsDir: join(base, 'downloads'), entryDir },
      ...{ read: async () => undefined, readSync: () => undefined },
    }
    // Counted in files made between two turns of the event loop, not in milliseconds: a loaded machine
    // stretches the time between turns, not what is done in one. Every empty file is one openSync.
    let sinceTurn = 0
    let most = 0
    let made = 0
    fs.openSync = ((...args: Parameters<typeof fs.openSync>) => {
      made++
      most = Math.max(most, ++sinceTurn)
      return realOpenSync(...args)
    }) as typeof fs.openSync
    syncBuiltinESMExports()
    let onTurn = (): void => undefined
    let stopped = false
    const spin = (): void => {
      if (stopped) return
      sinceTurn = 0
      onTurn()
      setImmediate(spin)
    }
    setImmediate(spin)
    try {
      const builder = await TreeBuilder.start(options)
      t.diagnostic(`at most ${most} files made between two turns of the event loop (${count} in all)`)
      assert.ok(most > 0, 'the files were counted')
      assert.ok(most <= 2 * YIELD_EVERY, `${most} files were made without letting the event loop turn`)
      await builder.abandon()
      // Ctrl-C while the files are made: stop at the next breather, remove the temporary tree.
      const stop = new AbortController()
      made = 0
      onTurn = () => {
        if (made >= 1000 && !stop.signal.aborted) stop.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT'))
      }
      await assert.rejects(TreeBuilder.start({ ...options, signal: stop.signal }), (err) =>
        hasCode(err, 'E_INTERRUPTED'),
      )
    } finally {
      stopped = true
      fs.openSync = realOpenSync
      syncBuiltinESMExports()
    }
    assert.deepEqual(await readdir(join(base, 'downloads')), [], 'the temporary tree removed')
  })
})
