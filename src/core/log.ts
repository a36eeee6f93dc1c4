import { fchmodSync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { type Logger, pino } from 'pino'
import { fromFsError } from './errors.js'
import type { LogLevel } from './setting-parsers.js'

export type { Logger }

export interface CommandLog {
  log: Logger
  /** Flush buffered lines; call before exiting. */
  flush(): void
}

/**
 * JSON lines to `<logsDir>/<command>.log`, each written as it is logged. The
 * file is opened here, synchronously: a destination that opened it itself is
 * not ready for a while, and a command that exits at once (a usage error,
 * cli/main.ts's exit) then lost its lines, and pino's own flush at exit threw
 * "sonic boom is not ready yet".
 */
export function createCommandLog(logsDir: string, command: string, level: LogLevel): CommandLog {
  const path = join(logsDir, `${command}.log`)
  let fd: number
  try {
    // The owner's alone when made here: lines name peers, files and paths.
    mkdirSync(logsDir, { recursive: true, mode: 0o700 })
    fd = openSync(path, 'a', 0o600)
    // A log an older version made world-readable may hold a secret it logged: made ours alone too, when ours.
    try {
      fchmodSync(fd, 0o600)
    } catch {
      // not ours to change (another user's file we may append to): left as it is
    }
  } catch (err) {
    throw fromFsError(err, `opening the log file ${path}`)
  }
  // Synchronous writes: a command logs a few lines, and exits as soon as it has ended (cli/main.ts), when an
  // asynchronous write still in flight would be lost.
  const destination = pino.destination({ dest: fd, sync: true })
  const log = pino({ level, base: { cmd: command, pid: process.pid } }, destination)
  return {
    log,
    flush: () => {
      try {
        destination.flushSync()
      } catch {
        // already closed: nothing to flush
      }
    },
  }
}

/** A logger that drops everything: the default collaborator for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/** What the library's factories take beside their options (libp2p's components): for now, where to log. */
export interface Collaborators {
  /** A pino logger; each component logs through a child of it (`component: 'chunk-server'`, …). Default: silent. */
  log?: Logger
}

/** The component's child of the given logger, or a silent one. */
export function componentLog(collaborators: Collaborators, component: string): Logger {
  return collaborators.log?.child({ component }) ?? silentLogger()
}
