import { setFlagsFromString } from 'node:v8'

/**
 * A download has V8 optimize a function only after four times the default
 * bytecode run (its interrupt budget: 270,336 bytes instead of 67,584). A
 * download lives seconds to minutes, and sixteen at once spent ~0.7 CPU-s
 * each in the optimizing compiler, mostly on functions run too little to
 * repay it: with the later tier-up that share fell by two thirds, and the
 * JavaScript ran no slower (docs/benchmarks.md). Set at run time, as V8
 * reads it whenever it resets a function's budget; the bin/ script imports
 * this before the command, so it holds from the command's first function.
 */
setFlagsFromString('--interrupt-budget=270336')
