import { lstatSync, mkdirSync, statSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { P2PError } from './errors.js'

/**
 * `mkdir -p`, one level at a time. Node 20's `mkdir(…, { recursive: true })` never returns for a path under
 * /proc: mkdir there fails ENOENT though the parent exists, and Node goes back to the parent and forward again
 * for ever, at 100 % of a core, past SIGINT and SIGTERM (a user's `--logs-dir /proc/x`; a usability pass, fifty-
 * third session). Here the missing directories are found first, from the deepest one that exists, and each is
 * made once; any failure is the caller's, with its path. A file in the way fails ENOTDIR. Returns the first
 * directory made (as `recursive` does), or undefined when `dir` was there already.
 */
export async function makeDirectories(dir: string, mode?: number): Promise<string | undefined> {
  const missing: string[] = []
  for (let path = resolve(dir); !(await isDirectory(path)); path = dirname(path)) {
    missing.unshift(path)
    if (dirname(path) === path) break
  }
  for (const path of missing)
    await mkdir(path, mode === undefined ? {} : { mode }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' || !(await isDirectory(path))) throw danglingOr(path, err) // made meanwhile: fine
    })
  return missing[0]
}

/** makeDirectories for the few that must happen before anything async can run (a command's log directory). */
export function makeDirectoriesSync(dir: string, mode?: number): string | undefined {
  const missing: string[] = []
  for (let path = resolve(dir); !isDirectorySync(path); path = dirname(path)) {
    missing.unshift(path)
    if (dirname(path) === path) break
  }
  for (const path of missing)
    try {
      mkdirSync(path, mode === undefined ? {} : { mode })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectorySync(path)) throw danglingOr(path, err)
    }
  return missing[0]
}

/** True for a directory, false for nothing there; anything else in the way throws (ENOTDIR for a file). */
async function isDirectory(path: string): Promise<boolean> {
  return directoryOrAbsent(path, await stat(path).catch(absentOnly))
}

function isDirectorySync(path: string): boolean {
  let stats: { isDirectory(): boolean } | undefined
  try {
    stats = statSync(path)
  } catch (err) {
    stats = absentOnly(err)
  }
  return directoryOrAbsent(path, stats)
}

function absentOnly(err: unknown): undefined {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  throw err
}

function directoryOrAbsent(path: string, stats: { isDirectory(): boolean } | undefined): boolean {
  if (stats === undefined) return false
  if (stats.isDirectory()) return true
  throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', path })
}

/** `err`, or what it means when `path` is a symbolic link to nothing (mkdir says only EEXIST). */
function danglingOr(path: string, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return err
  try {
    if (!lstatSync(path).isSymbolicLink()) return err
  } catch {
    return err
  }
  return new P2PError('E_IO', `${path} is a symbolic link to nothing: remove it, or make what it points to`)
}
