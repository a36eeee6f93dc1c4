/**
 * What the command frame (common.ts) puts in place once for the whole
 * process, whatever commands it runs: a listener on stdout and stderr, and
 * an exit for a signal that comes after a command has ended.
 */

/** What a write error on stdout or stderr does while a command runs (common.ts execute). */
let outputErrorHandler: ((error: NodeJS.ErrnoException) => void) | undefined
let outputWatched = false

/** What a write error on stdout or stderr does from now on; undefined: nothing (never a crash). */
export function onOutputError(handler: ((error: NodeJS.ErrnoException) => void) | undefined): void {
  outputErrorHandler = handler
}

/** One listener per stream for the whole process: an unhandled stream 'error' would crash it. */
export function watchOutput(): void {
  if (outputWatched) return
  outputWatched = true
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (error: NodeJS.ErrnoException) => outputErrorHandler?.(error))
}

let lateSignalHandled = false
/** Commands running in this process (a program may run several, one after another): theirs is any signal. */
let commandsRunning = 0

/** A command starts: a signal is its own handler's from now on. */
export function commandStarted(): void {
  commandsRunning++
}

/** A command has ended: a signal from now on, with no other command running, exits (exitOnLateSignal). */
export function commandEnded(): void {
  commandsRunning--
  exitOnLateSignal()
}

/**
 * A signal after the command has ended (its result printed; the process
 * closing its last handles) exits with the command's code: the result
 * printed stands, rather than a death by the signal that says otherwise.
 * While a command runs, its own handler stops it gracefully instead. (The
 * commands' own process then exits at once, cli/main.ts: a process left to
 * end by itself tears down for ~10 ms more without any handler.)
 */
function exitOnLateSignal(): void {
  if (lateSignalHandled) return
  lateSignalHandled = true
  const exit = (): void => {
    if (commandsRunning === 0) process.exit() // process.exitCode: the command's, set as `execute` returns
  }
  process.on('SIGINT', exit)
  process.on('SIGTERM', exit)
}
