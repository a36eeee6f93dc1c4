import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Logger, pino } from 'pino'
import type { LogLevel } from './setting-parsers.js'

export type { Logger }

export interface CommandLog {
  log: Logger
  /** Flush buffered lines; call before exiting. */
  flush(): void
}

/** JSON lines to `<logsDir>/<command>.log`, asynchronous, flushed on exit. */
export function createCommandLog(logsDir: string, command: string, level: LogLevel): CommandLog {
  mkdirSync(logsDir, { recursive: true })
  const destination = pino.destination({ dest: join(logsDir, `${command}.log`), sync: false, mkdir: true })
  const log = pino({ level, base: { cmd: command, pid: process.pid } }, destination)
  return {
    log,
    flush: () => {
      try {
        destination.flushSync()
      } catch {
        // not ready yet (nothing written) or already closed: nothing to flush
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
