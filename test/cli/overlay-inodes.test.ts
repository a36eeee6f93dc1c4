import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { onCleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'

/**
 * Inode numbers above 2^53 (file-identity.ts): overlayfs with `xino` puts a
 * lower layer's index in the top bits, so a lower layer's neighbouring
 * inodes read as one JavaScript number. A real overlay, mounted here (root
 * only) over a tmpfs upper layer, so that the two layers are two
 * filesystems and the high bits are used.
 */

/** Unmount; if busy, detach it lazily (never leave a test's mount on the machine). */
const unmount = (path: string): void => {
  try {
    execFileSync('umount', [path], { stdio: 'ignore' })
  } catch {
    execFileSync('umount', ['--lazy', path], { stdio: 'ignore' })
  }
}

const mount = (args: string[]): string | undefined => {
  try {
    execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    return undefined
  } catch (err) {
    return ((err as { stderr?: Buffer }).stderr?.toString() ?? String(err)).trim()
  }
}

describe('a folder on overlayfs with xino (inode numbers above 2^53)', () => {
  it('split --follow-symlinks follows a link to a sibling directory: its neighbouring inode is not taken for an ancestor', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to mount an overlay')
    const dir = await tmpDir(t, 'p2p-overlay-')
    const lower = join(dir, 'lower')
    await mkdir(join(lower, 'top', 'd1'), { recursive: true })
    await mkdir(join(lower, 'top', 'd2'))
    await writeFile(join(lower, 'top', 'd1', 'f1'), 'one')
    await writeFile(join(lower, 'top', 'd2', 'f2'), 'two')
    await symlink('../d2', join(lower, 'top', 'd1', 'link'))
    const up = join(dir, 'up')
    const merged = join(dir, 'merged')
    await mkdir(up)
    await mkdir(merged)
    const tmpfs = mount(['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', up])
    if (tmpfs !== undefined) return t.skip(`cannot mount a tmpfs: ${tmpfs}`)
    onCleanup(t, () => unmount(up))
    await mkdir(join(up, 'upper'))
    await mkdir(join(up, 'work'))
    const overlay = mount([
      '-t',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${join(up, 'upper')},workdir=${join(up, 'work')},xino=on`,
      'overlay',
      merged,
    ])
    if (overlay !== undefined) return t.skip(`cannot mount an overlay with xino: ${overlay}`)
    onCleanup(t, () => unmount(merged))

    const [d1, d2] = [join(merged, 'top', 'd1'), join(merged, 'top', 'd2')]
    const [n1, n2] = await Promise.all([stat(d1), stat(d2)])
    const [b1, b2] = await Promise.all([stat(d1, { bigint: true }), stat(d2, { bigint: true })])
    assert.notEqual(b1.ino, b2.ino, 'two directories')
    if (n1.ino !== n2.ino) return t.skip("this kernel's overlay gives inode numbers a double holds exactly")

    const result = await runBin('p2p-split', [
      join(merged, 'top'),
      '--follow-symlinks',
      '--json',
      '--chunks-dir',
      join(dir, 'chunks'),
      '--logs-dir',
      join(dir, 'logs'),
    ])
    assert.equal(result.code, 0, result.stderr)
    const receipt = JSON.parse(result.stdout) as { files: number; skipped: Array<{ path: string; why: string }> }
    assert.deepEqual(receipt.skipped, [], 'd1/link leads to a sibling, not up: followed')
    assert.equal(receipt.files, 3, 'd1/f1, d1/link/f2 and d2/f2')
  })
})
