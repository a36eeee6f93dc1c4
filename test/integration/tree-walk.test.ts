import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import { chmod, mkdir, rename, symlink, writeFile } from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { hasCode } from '../../src/core/errors.js'
import { type WalkResult, walkTree } from '../../src/core/tree-walk.js'
import { onCleanup } from '../helpers/cleanup.js'
import { permissionsBind, ROOT } from '../helpers/cli.js'
import { mkfifo, tmpDir } from '../helpers/files.js'

const listing = (r: WalkResult): string[] =>
  r.entries.map((e) => (e.type === 'dir' ? `${e.path}/` : `${e.path} ${e.size}${e.exec ? ' x' : ''}`))

describe('folder walk', () => {
  it('lists files (size, executable bit) and directories, empty ones too, sorted by UTF-8 bytes', async (t) => {
    const dir = join(await tmpDir(t), 'album')
    await mkdir(join(dir, 'empty'), { recursive: true })
    await mkdir(join(dir, 'deep/er/still'), { recursive: true })
    await writeFile(join(dir, 'deep/er/still/x.txt'), 'xyz')
    await writeFile(join(dir, 'sample file é 🎉.txt'), 'hello')
    await writeFile(join(dir, 'zero'), '')
    await writeFile(join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 })
    await writeFile(join(dir, '\ue000'), 'p')
    await writeFile(join(dir, '\u{1f600}'), 'q')
    const r = await walkTree(dir)
    assert.deepEqual(listing(r), [
      'deep/',
      'deep/er/',
      'deep/er/still/',
      'deep/er/still/x.txt 3',
      'empty/',
      'run.sh 10 x',
      'sample file é 🎉.txt 5',
      'zero 0',
      '\ue000 1',
      '\u{1f600} 1',
    ])
    assert.equal(r.files, 6)
    assert.equal(r.bytes, 3 + 10 + 5 + 1 + 1)
    assert.equal(r.skippedCount, 0)
  })

  it('records an NFD name on disk under its NFC path, and reads it from its own name', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'E\u0301te.txt'), 'nfd')
    const r = await walkTree(dir)
    const [entry] = r.entries
    assert.ok(entry?.type === 'file')
    assert.equal(entry.path, '\u00c9te.txt')
    assert.ok(entry.source.endsWith('E\u0301te.txt'))
  })

  it('skips symlinks, FIFOs and sockets with a report; follows only links that stay inside with --follow-symlinks', async (t) => {
    const base = await tmpDir(t)
    const dir = join(base, 'tree')
    await mkdir(join(dir, 'sub'), { recursive: true })
    await writeFile(join(dir, 'sub/inside.txt'), 'in')
    await writeFile(join(base, 'secret.txt'), 'outside')
    await symlink('sub/inside.txt', join(dir, 'link-to-file'))
    await symlink('sub', join(dir, 'link-to-dir'))
    await symlink('../secret.txt', join(dir, 'link-out'))
    await symlink(base, join(dir, 'link-out-dir'))
    await symlink('nowhere', join(dir, 'broken'))
    await symlink('..', join(dir, 'sub/loop-up'))
    await symlink('.', join(dir, 'loop-here'))
    mkfifo(join(dir, 'fifo'))
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve))
    onCleanup(t, () => new Promise<void>((resolve) => server.close(() => resolve())))

    const plain = await walkTree(dir)
    assert.deepEqual(listing(plain), ['sub/', 'sub/inside.txt 2'])
    const why = Object.fromEntries(plain.skipped.map((s) => [s.path, s.why]))
    assert.deepEqual(why, {
      'link-to-file': 'symlink',
      'link-to-dir': 'symlink',
      'link-out': 'symlink',
      'link-out-dir': 'symlink',
      broken: 'symlink',
      'sub/loop-up': 'symlink',
      'loop-here': 'symlink',
      fifo: 'fifo',
      sock: 'socket',
    })

    const followed = await walkTree(dir, { followSymlinks: true })
    assert.deepEqual(listing(followed), [
      'link-to-dir/',
      'link-to-dir/inside.txt 2',
      'link-to-file 2',
      'sub/',
      'sub/inside.txt 2',
    ])
    const followedWhy = Object.fromEntries(followed.skipped.map((s) => [s.path, s.why]))
    assert.deepEqual(followedWhy, {
      'link-out': 'link outside the folder',
      'link-out-dir': 'link outside the folder',
      broken: 'broken link',
      'sub/loop-up': 'link loop',
      'link-to-dir/loop-up': 'link loop',
      'loop-here': 'link loop',
      fifo: 'fifo',
      sock: 'socket',
    })
    const linked = followed.entries.find((e) => e.path === 'link-to-file')
    assert.ok(
      linked?.type === 'file' && linked.source === join(followed.root, 'sub/inside.txt'),
      'read from the real path inside',
    )
  })

  it('stops on names that cannot be shared, naming them all', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'a\\b'), '')
    await writeFile(join(dir, 'tab\there'), '')
    await writeFile(join(dir, 'gnp\u202e.exe'), '')
    await mkdir(join(dir, 'Docs'))
    await mkdir(join(dir, 'docs'))
    await writeFile(join(dir, '\u00c9'), '')
    await writeFile(join(dir, 'E\u0301'), '')
    await assert.rejects(walkTree(dir), (err: unknown) => {
      assert.ok(hasCode(err, 'E_BAD_NAME'))
      assert.match(err.message, /^5 names/)
      assert.match(err.message, /a\\b/)
      assert.match(err.message, /tab\\there/, 'shown escaped')
      assert.doesNotMatch(err.message, /\u202e/, 'bidi control shown escaped')
      assert.match(err.message, /"(docs|Docs)" and "(Docs|docs)" would be one file/)
      return true
    })
  })

  it('skips a link or FIFO whatever its name: one named with a control character is reported, not a refusal of the whole folder', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'kept.txt'), 'x')
    await symlink('kept.txt', join(dir, 'link\u001b[2J'))
    await mkfifo(join(dir, 'pipe\nname'))
    const r = await walkTree(dir)
    assert.deepEqual(
      r.entries.map((e) => e.path),
      ['kept.txt'],
    )
    assert.deepEqual(r.skipped.map((s) => [s.path, s.why]).sort(), [
      ['link\u001b[2J', 'symlink'],
      ['pipe\nname', 'fifo'],
    ])
  })

  it('never walks out of the folder through a directory above swapped for a link between two of its listings', async (t) => {
    const base = await tmpDir(t)
    const dir = join(base, 'album')
    const outside = join(base, 'outside')
    for (const child of ['b1', 'b2']) {
      await mkdir(join(dir, 'a', child), { recursive: true })
      await writeFile(join(dir, 'a', child, 'mine.txt'), 'ours')
      await mkdir(join(outside, child), { recursive: true })
      await writeFile(join(outside, child, 'secret.txt'), 'TOPSECRET')
    }
    // Once the first of a's directories has been listed (the lstat of its path after), `a` is moved away and a
    // link to `outside` put in its place: the second one's path now leads out of the folder, to a real directory.
    const realLstat = fs.promises.lstat
    const seen = new Map<string, number>()
    let swapped = false
    fs.promises.lstat = (async (...args: Parameters<typeof realLstat>) => {
      const st = await realLstat(...args)
      const path = String(args[0])
      if (!swapped && /[/\\]a[/\\]b[12]$/.test(path)) {
        seen.set(path, (seen.get(path) ?? 0) + 1)
        if (seen.get(path) === 1) {
          swapped = true
          await rename(join(dir, 'a'), join(base, 'a-away'))
          await symlink(outside, join(dir, 'a'))
        }
      }
      return st
    }) as typeof realLstat
    syncBuiltinESMExports()
    t.after(() => {
      fs.promises.lstat = realLstat
      syncBuiltinESMExports()
    })
    await assert.rejects(
      walkTree(dir),
      (err: unknown) => hasCode(err, 'E_IO') && /changed while it was read/.test(err.message),
    )
    assert.ok(swapped, 'the swap happened during the walk')
  })

  it('looks up a directory’s entries in that very directory, whatever its path leads to meanwhile (Linux)', {
    skip: process.platform !== 'linux' && 'through /proc/self/fd on Linux only',
  }, async (t) => {
    const base = await tmpDir(t)
    const dir = join(base, 'album')
    const outside = join(base, 'outside')
    await mkdir(join(dir, 'a', 'b1'), { recursive: true })
    await writeFile(join(dir, 'a', 'b1', 'x.txt'), 'ours')
    await mkdir(join(outside, 'b1'), { recursive: true })
    await writeFile(join(outside, 'b1', 'x.txt'), 'TOPSECRET')
    // Once a/b1 is open for its listing, `a` is swapped for a link to `outside`; once its entry has been looked
    // at, swapped back, so its path leads to it again when it is checked after.
    const realOpenSync = fs.openSync
    const realLstatSync = fs.lstatSync
    let phase = 0
    fs.openSync = ((...args: Parameters<typeof realOpenSync>) => {
      const fd = realOpenSync(...args)
      if (phase === 0 && String(args[0]).endsWith(join('a', 'b1'))) {
        phase = 1
        fs.renameSync(join(dir, 'a'), join(base, 'a-away'))
        fs.symlinkSync(outside, join(dir, 'a'))
      }
      return fd
    }) as typeof realOpenSync
    const patched = fs as { lstatSync: unknown }
    patched.lstatSync = ((...args: Parameters<typeof realLstatSync>) => {
      const st = realLstatSync(...args)
      if (phase === 1 && String(args[0]).endsWith('x.txt')) {
        phase = 2
        fs.unlinkSync(join(dir, 'a'))
        fs.renameSync(join(base, 'a-away'), join(dir, 'a'))
      }
      return st
    }) as typeof realLstatSync
    syncBuiltinESMExports()
    t.after(() => {
      fs.openSync = realOpenSync
      patched.lstatSync = realLstatSync
      syncBuiltinESMExports()
    })
    const r = await walkTree(dir)
    assert.equal(phase, 2, 'both swaps happened during the walk')
    const x = r.entries.find((e) => e.path === 'a/b1/x.txt')
    assert.ok(x?.type === 'file')
    const ours = realLstatSync(join(dir, 'a', 'b1', 'x.txt'), { bigint: true })
    assert.deepEqual(
      x.identity,
      { dev: ours.dev, ino: ours.ino },
      'the file in the folder, not the one the link led to',
    )
    assert.equal(x.size, 4)
  })

  it('stops past the entry limit', async (t) => {
    const dir = await tmpDir(t)
    for (let i = 0; i < 6; i++) await writeFile(join(dir, `f${i}`), '')
    assert.equal((await walkTree(dir, { maxEntries: 6 })).entries.length, 6)
    await assert.rejects(
      walkTree(dir, { maxEntries: 5 }),
      (err: unknown) => hasCode(err, 'E_TOO_LARGE') && /more than 5/.test(err.message),
    )
  })

  it('refuses what is not a directory, and a missing one', async (t) => {
    const dir = await tmpDir(t)
    await writeFile(join(dir, 'file'), '')
    await assert.rejects(walkTree(join(dir, 'file')), (err: unknown) => hasCode(err, 'E_USAGE'))
    await assert.rejects(walkTree(join(dir, 'missing')), (err: unknown) => hasCode(err, 'E_NOT_FOUND'))
  })

  it('stops with a clear error naming every unreadable file and folder', async (t) => {
    // Root reads anything: the walk runs as root without the capabilities that override permissions (as uid 65534 it
    // could not even reach a checkout cloned into a mode-0700 folder), or the test says why it cannot.
    const how = permissionsBind()
    if ('skip' in how) return void t.skip(how.skip)
    const base = await tmpDir(t)
    const dir = join(base, 'tree')
    await mkdir(join(dir, 'locked'), { recursive: true })
    await writeFile(join(dir, 'secret-1'), 'x')
    await writeFile(join(dir, 'secret-2'), 'x')
    await writeFile(join(dir, 'fine'), 'x')
    await chmod(join(dir, 'secret-1'), 0o000)
    await chmod(join(dir, 'secret-2'), 0o000)
    await chmod(join(dir, 'locked'), 0o000)
    await chmod(base, 0o755)
    const script =
      `import('${ROOT}dist/src/core/tree-walk.js').then((m) => m.walkTree(${JSON.stringify(dir)}))` +
      '.then(() => console.log("no error"), (e) => console.log(e.code, e.message))'
    const [command, ...prefix] = [...how.wrap, process.execPath]
    const { stdout } = await promisify(execFile)(command!, [...prefix, '-e', script])
    assert.match(stdout, /^E_IO cannot read 3 files or folders/)
    for (const name of ['secret-1', 'secret-2', 'locked']) assert.match(stdout, new RegExp(`"${name}" \\(EACCES\\)`))
    assert.doesNotMatch(stdout, /fine/)
  })
})
