import chalk from 'chalk'
import { type Logger, printable } from '../index.js'

/**
 * How a command that runs until Ctrl-C (a daemon, a download that seeds)
 * ends: its wait for the abort, and its parts stopped together.
 */

/**
 * Resolves once `signal` is aborted, at once if it already is (a Ctrl-C that
 * came while a daemon was starting is not missed): a daemon's wait for its end.
 */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/**
 * Waits for every part to stop, each given its chance when another fails. A
 * part that fails to stop is one warning line (and the log), never the
 * command's outcome: a download that finished stays finished, and the error
 * that ended a command stays its error instead of being hidden by a stop's.
 * Returns the parts that failed (what the command may no longer claim).
 */
export async function stopAll(
  parts: Record<string, Promise<unknown> | undefined>,
  io: { log: Logger; err: (line: string) => void },
): Promise<string[]> {
  const names = Object.keys(parts)
  const settled = await Promise.allSettled(Object.values(parts))
  const failed: string[] = []
  settled.forEach((result, i) => {
    if (result.status === 'fulfilled') return
    const reason: unknown = result.reason
    failed.push(names[i]!)
    io.log.warn({ part: names[i], err: reason }, 'failed to stop')
    const message = printable(reason instanceof Error ? reason.message : String(reason))
    io.err(`${chalk.yellow('Warning:')} stopping ${names[i]} failed: ${message}`)
  })
  return failed
}
