import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MadeTable } from '../../src/core/download/made-table.js'
import { type AnchorCalls, AnchorMismatch, TreeAnchors } from '../../src/core/download/tree-anchors.js'
import type { FileIdentity } from '../../src/core/file-identity.js'

/**
 * A directory tree and descriptor table in memory, resolving the anchors'
 * `/proc/self/fd/<fd>/<name>` paths as the kernel does: through the
 * descriptor's directory, then the name. Every open and close is counted.
 */
class FakeDirs implements AnchorCalls {
  /** path below the root → identity ('' is the root). */
  readonly ids = new Map<string, FileIdentity>([['', { dev: 1n, ino: 1n }]])
  /** fd → the directory's path when opened. */
  readonly table = new Map<number, string>()
  readonly closedTwice: number[] = []
  opened = 0
  private next = 10
  private nextIno = 2n

  make(path: string): FileIdentity {
    const id = { dev: 1n, ino: this.nextIno++ }
    this.ids.set(path, id)
    return id
  }

  openRoot(): number {
    return this.fdFor('')
  }

  openDir(path: string): number {
    const m = /^\/proc\/self\/fd\/(\d+)\/([^/]+)$/.exec(path)
    assert.ok(m, `an anchored path: ${path}`)
    const dir = this.table.get(Number(m[1]))
    assert.ok(dir !== undefined, `resolved through an open descriptor: ${path}`)
    const child = dir === '' ? m[2]! : `${dir}/${m[2]}`
    if (!this.ids.has(child)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
    return this.fdFor(child)
  }

  identity(fd: number): FileIdentity {
    const path = this.table.get(fd)
    assert.ok(path !== undefined, 'stat of an open descriptor')
    return this.ids.get(path)!
  }

  resolved(fd: number): FileIdentity {
    return this.identity(fd)
  }

  close(fd: number): void {
    if (!this.table.delete(fd)) this.closedTwice.push(fd)
  }

  private fdFor(path: string): number {
    const fd = this.next++
    this.table.set(fd, path)
    this.opened++
    return fd
  }
}

/** Whether `dir` or a directory above it was replaced. */
const replacedAt = (swapped: Set<string>, dir: string): boolean =>
  [...swapped].some((p) => dir === p || dir.startsWith(`${p}/`))

/** One step of a tree's life: a new directory under an existing one, an entry made in one, or one replaced. */
const step = fc.oneof(
  fc.record({ op: fc.constant('mkdir' as const), parent: fc.nat() }),
  fc.record({ op: fc.constant('create' as const), dir: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), dir: fc.nat() }),
)

describe('tree anchors', { skip: process.platform !== 'linux' && 'anchors are for Linux' }, () => {
  it('open each descriptor once and close it once, never more than the limit at a time, and resolve only the directory made', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), fc.integer({ min: 1, max: 6 }), (steps, limit) => {
        const fake = new FakeDirs()
        const made = new MadeTable()
        made.add('', true, fake.ids.get('')!)
        const anchors = TreeAnchors.tryOpen(made, fake.openRoot(), fake, limit)
        assert.ok(anchors, 'anchored on Linux')
        const dirs = [''] // slots of directories, by made order
        const swapped = new Set<string>()
        for (const [n, s] of steps.entries()) {
          if (s.op === 'mkdir') {
            const parent = dirs[s.parent % dirs.length]!
            const path = parent === '' ? `d${n}` : `${parent}/d${n}`
            fake.make(path)
            try {
              anchors.adopt(made.slotOf(parent)!, `d${n}`, (id) => made.add(path, true, id))
              dirs.push(path)
            } catch (err) {
              assert.ok(err instanceof AnchorMismatch && replacedAt(swapped, parent), String(err))
            }
          } else {
            const dir = dirs[s.dir % dirs.length]!
            if (s.op === 'swap') {
              if (dir === '') continue
              fake.make(dir) // another directory now at that name (only a reopen sees it)
              swapped.add(dir)
              continue
            }
            const slot = made.slotOf(dir)!
            try {
              const path: string = anchors.pathIn(slot, 'f')
              const fd: number = Number(/^\/proc\/self\/fd\/(\d+)\//.exec(path)![1])
              assert.equal(fake.table.get(fd), dir, 'the descriptor in the path is open on that very directory')
              assert.ok(made.holds(slot, fake.ids.get(dir)!) || swapped.has(dir))
            } catch (err) {
              assert.ok(err instanceof AnchorMismatch && replacedAt(swapped, dir), String(err))
            }
          }
          assert.ok(fake.table.size <= limit + 1, `at most ${limit} besides the root: ${fake.table.size}`)
          assert.equal(anchors.openCount, fake.table.size, 'the anchors own exactly what is open')
        }
        anchors.close()
        anchors.close()
        assert.equal(fake.table.size, 0, 'every descriptor closed')
        assert.deepEqual(fake.closedTwice, [], 'none closed twice')
        assert.throws(() => anchors.pathIn(0, 'f'), /closed/)
      }),
    )
  })
})
