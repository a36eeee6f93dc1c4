import { P2PError } from './errors.js'
import { printable } from './printable.js'

/**
 * What a folder walk (tree-walk.ts) finds wrong and does not skip: files or
 * directories it cannot read, and names that break the path rules or
 * collide. They are collected over the whole walk, so that one run names
 * them all, and the walk then stops with one error (E_IO before
 * E_BAD_NAME).
 */

/** The most entries of one kind a walk keeps to report (skipped ones, unreadable ones). */
export const MAX_REPORTED = 1000

export class WalkProblems {
  private readonly badNames: string[] = []
  private readonly unreadable: string[] = []

  /** A name that cannot be shared, described with its path. */
  badName(description: string): void {
    this.badNames.push(description)
  }

  /** `path` (a manifest path, '.' for the root) could not be read; undefined, for the caller to return. */
  unreadableEntry(path: string, err: unknown): undefined {
    if (this.unreadable.length < MAX_REPORTED)
      this.unreadable.push(`"${printable(path, 200)}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    return undefined
  }

  /** Throws the one error naming what was found in `root`, if anything was. */
  throwIfAny(root: string): void {
    const listed = (items: string[]): string =>
      `${items.slice(0, 10).join(', ')}${items.length > 10 ? ` and ${items.length - 10} more` : ''}`
    if (this.unreadable.length > 0) {
      throw new P2PError(
        'E_IO',
        `cannot read ${this.unreadable.length} file(s) or folder(s) in ${printable(root)}: ${listed(this.unreadable)}; fix their permissions or move them out`,
      )
    }
    if (this.badNames.length > 0) {
      throw new P2PError(
        'E_BAD_NAME',
        `${this.badNames.length} name(s) in ${printable(root)} cannot be shared: ${listed(this.badNames)}; rename them`,
      )
    }
  }
}
