import { closeSync, constants, fchmodSync, fstatSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { type Logger, pino } from 'pino'
import { fromFsError, P2PError } from './errors.js'
import { makeDirectoriesSync } from './make-dirs.js'
import { printable } from './printable.js'
import type { LogLevel } from './setting-parsers.js'

export type { Logger }

/** Append, made private, never through a link (ELOOP), and never blocking on a FIFO or device in its place. */
const LOG_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK

/**
 * JSON lines to `<logsDir>/<command>.log`, each written as it is logged (nothing to flush at exit). The
 * file is opened here, synchronously: a destination that opened it itself is
 * not ready for a while, and a command that exits at once (a usage error,
 * cli/main.ts's exit) then lost its lines. Only a regular file of one name: a
 * link there (symbolic or hard) would have had every line appended, and its
 * target made 0600, wherever it pointed; a FIFO held the command before its first line, deaf to Ctrl-C.
 * A line that cannot be written (a full disk, EIO) stops the log, said once
 * through `warn`: the log never stops the command (pino's own synchronous
 * destination retried a full disk for ever at exit, deaf to Ctrl-C).
 */
export function createCommandLog(
  logsDir: string,
  command: string,
  level: LogLevel,
  warn: (line: string) => void = () => undefined,
): Logger {
  // No file at all when nothing is to be logged: the way to silence the log (a link to /dev/null is refused).
  if (level === 'silent') return silentLogger()
  const path = join(logsDir, `${command}.log`)
  let fd: number
  try {
    // The owner's alone when made here: lines name peers, files and paths.
    makeDirectoriesSync(logsDir, 0o700)
    fd = openSync(path, LOG_FLAGS, 0o600)
  } catch (err) {
    throw fromFsError(err, `opening the log file ${path}`)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new P2PError('E_IO', `the log file ${printable(path)} is not a regular file`)
    // A hard link is a link too: lines appended, and the mode made 0600, wherever its other name is.
    if (st.nlink > 1) throw new P2PError('E_IO', `the log file ${printable(path)} has other names (hard links)`)
  } catch (err) {
    closeSync(fd)
    throw fromFsError(err, `opening the log file ${path}`)
  }
  // A log an older version made world-readable may hold a secret it logged: made ours alone too, when ours.
  try {
    fchmodSync(fd, 0o600)
  } catch {
    // not ours to change (another user's file we may append to): left as it is
  }
  let stopped = false
  const destination = {
    write(line: string): void {
      if (stopped) return
      const bytes = Buffer.from(line)
      try {
        for (let done = 0; done < bytes.length; ) {
          const n = writeSync(fd, bytes, done)
          if (n <= 0) throw new Error('nothing written')
          done += n
        }
      } catch (err) {
        // A line cut short stays cut: the next reader skips one line that is not JSON.
        stopped = true
        const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
        warn(`warning: logging stopped: ${printable(path)} cannot be written (${why})`)
      }
    },
  }
  return pino({ level, base: { cmd: command, pid: process.pid } }, destination)
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
