import { setFlagsFromString } from 'node:v8'

/** Four times V8's default interrupt budget (67,584 bytes of bytecode run before a function may be optimized). */
export const DOWNLOAD_INTERRUPT_BUDGET = 270_336

/**
 * The flag this module sets for a process started with `execArgv`: none when
 * node's own command line already gives an interrupt budget (set here, later,
 * it would silently replace that one: `bench/swarm.mjs --node-flags` tries
 * other budgets that way).
 */
export function tierUpFlag(execArgv: readonly string[]): string | undefined {
  const given = execArgv.some((arg) => /^--interrupt[-_]budget(=|$)/.test(arg))
  return given ? undefined : `--interrupt-budget=${DOWNLOAD_INTERRUPT_BUDGET}`
}

/**
 * A download has V8 optimize a function only after four times the default
 * bytecode run (its interrupt budget). A
 * download lives seconds to minutes, and sixteen at once spent ~0.7 CPU-s
 * each in the optimizing compiler, mostly on functions run too little to
 * repay it: with the later tier-up that share fell by two thirds, and the
 * JavaScript ran no slower (docs/benchmarks.md). Set at run time, as V8
 * reads it whenever it resets a function's budget; the bin/ script imports
 * this before the command, so it holds from the command's first function.
 */
const flag = tierUpFlag(process.execArgv)
if (flag !== undefined) setFlagsFromString(flag)
