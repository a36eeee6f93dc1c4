/**
 * A signal that comes while a command's modules still load (~200 ms before the command frame, common.ts, has
 * its own handlers): Node's default then killed the process with no result, so a script reading `--json` got no
 * line and the user no word. The bin/ scripts remember it from their first line (`rememberEarlySignals`), and
 * the frame, as it starts, stops the command at once if one came (`takeEarlySignal`): nothing done, the usual
 * E_INTERRUPTED result and exit 130.
 */

let early: NodeJS.Signals | undefined
const remember = (signal: NodeJS.Signals): void => {
  early ??= signal
}

/** From now until the command frame starts, SIGINT and SIGTERM are remembered, not fatal. */
export function rememberEarlySignals(): void {
  process.on('SIGINT', remember)
  process.on('SIGTERM', remember)
}

/** The signal that came before the frame's own handlers, if any; the remembering ends. */
export function takeEarlySignal(): NodeJS.Signals | undefined {
  process.off('SIGINT', remember)
  process.off('SIGTERM', remember)
  return early
}
