import { createRequire } from 'node:module'

/**
 * libsodium's binding (sodium-native), loaded with require(). An ES import of
 * this CommonJS package makes Node scan its 108 KB index.js for the names it
 * exports (cjs-module-lexer, in JavaScript) at every start of every command;
 * require() only compiles it, as it must anyway (docs/benchmarks.md).
 */
const sodium: typeof import('sodium-native') = createRequire(import.meta.url)('sodium-native')

export default sodium
