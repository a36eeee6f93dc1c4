import type { Dirent } from 'node:fs'
import { counted } from './counted.js'
import { P2PError } from './errors.js'
import { printable } from './printable.js'
import { collisionKey, componentProblem, MAX_PATH_BYTES } from './tree-paths.js'

/**
 * What a folder walk (tree-walk.ts) finds wrong and does not skip: files or
 * directories it cannot read, and names that break the path rules or
 * collide. They are collected over the whole walk, so that one run names
 * them all, and the walk then stops with one error (E_IO before
 * E_BAD_NAME).
 */

/** The entries of one kind an error names; the rest are counted. */
const NAMED_IN_ERROR = 10

/** Problems of one kind: all counted, the first few kept to be named (a folder's size does not decide the memory). */
class Found {
  readonly named: string[] = []
  count = 0

  add(description: string): void {
    if (this.named.length < NAMED_IN_ERROR) this.named.push(description)
    this.count++
  }

  /** The first ones, and how many more. */
  listed(): string {
    return `${this.named.join(', ')}${this.count > this.named.length ? ` and ${this.count - this.named.length} more` : ''}`
  }
}

export class WalkProblems {
  private readonly badNames = new Found()
  private readonly unreadable = new Found()

  /** A name that cannot be shared, described with its path. */
  badName(description: string): void {
    this.badNames.add(description)
  }

  /**
   * The entries of one directory (at manifest path `dirPath`, '' for the
   * root) whose names can be shared, each with its manifest path (NFC); the
   * others are recorded as bad names: a name against the path rules
   * (tree-paths.ts), a path too long, or two names one file on a
   * case-insensitive or Windows volume.
   */
  shareableNames<T extends { name: string }>(entries: readonly T[], dirPath: string): Array<{ d: T; path: string }> {
    const seen = new Map<string, string>() // collision key → path, within this directory
    const named: Array<{ d: T; path: string }> = []
    for (const d of entries) {
      const component = d.name.normalize('NFC')
      const path = dirPath === '' ? component : `${dirPath}/${component}`
      const problem = componentProblem(component)
      if (problem !== undefined) {
        this.badName(`"${printable(path, 200)}": ${problem.replace(/^a name/, 'it')}`)
        continue
      }
      if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
        this.badName(`"${printable(path, 120)}": longer than ${MAX_PATH_BYTES} bytes`)
        continue
      }
      const key = collisionKey(component)
      const other = seen.get(key)
      if (other !== undefined) {
        this.badName(
          `"${printable(path, 200)}" and "${printable(other, 200)}" would be one file on case-insensitive or Windows volumes (or differ only in Unicode normalisation)`,
        )
        continue
      }
      seen.set(key, path)
      named.push({ d, path })
    }
    return named
  }

  /** `path` (a manifest path, '.' for the root) could not be read; undefined, for the caller to return. */
  unreadableEntry(path: string, err: unknown): undefined {
    this.unreadable.add(`"${printable(path, 200)}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    return undefined
  }

  /** Throws the one error naming what was found in `root`, if anything was. */
  throwIfAny(root: string): void {
    if (this.unreadable.count > 0) {
      throw new P2PError(
        'E_IO',
        `cannot read ${counted(this.unreadable.count, 'file or folder', 'files or folders')} in ${printable(root)}: ${this.unreadable.listed()}; fix their permissions or move them out`,
      )
    }
    if (this.badNames.count > 0) {
      throw new P2PError(
        'E_BAD_NAME',
        `${counted(this.badNames.count, 'name')} in ${printable(root)} cannot be shared: ${this.badNames.listed()}; rename them`,
      )
    }
  }
}

/**
 * Why an entry is skipped by its type alone, as readdir gives it (a link not followed; a FIFO, socket or
 * device): such an entry is reported whatever its name, where a link or FIFO named with a control character had
 * stopped a whole folder's split (E_BAD_NAME; a usability pass, fifty-third session). Where readdir gives no
 * type (some filesystems), the walk's lstat finds it after the name's check.
 */
export function skippedByType(
  d: Dirent,
  followSymlinks: boolean,
): 'symlink' | 'fifo' | 'socket' | 'device' | undefined {
  if (d.isSymbolicLink()) return followSymlinks ? undefined : 'symlink'
  if (d.isFIFO()) return 'fifo'
  if (d.isSocket()) return 'socket'
  if (d.isBlockDevice() || d.isCharacterDevice()) return 'device'
  return undefined
}

/** A directory that was not the one listed once its listing ended (swapped mid-walk): the walk stops. */
export function changedWhileRead(at: { disk: string }): P2PError {
  return new P2PError(
    'E_IO',
    `${printable(at.disk)} changed while it was read (replaced by something else); run again when the folder is still`,
  )
}
