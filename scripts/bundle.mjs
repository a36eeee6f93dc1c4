#!/usr/bin/env node
// The commands as a few files instead of ~230 modules (after tsc, from dist/src/): dist/cli/main.js and the
// chunks it loads, the young-generation and tier-up settings the bin/ scripts run first, and the hash thread, beside them
// so `new URL('./hash-thread.js', import.meta.url)` finds it. Why: a command spent ~0.15 of its ~0.4 s of
// start-up CPU resolving, lexing and linking modules, and V8 then optimized Node's own module loader in every
// process (docs/benchmarks.md, "Commands as one bundle"). The library (dist/src/index.js) stays unbundled.
// Left out of the bundle: native addons and what is loaded only when needed (the DHT, prompts;
// picomatch and cli-progress are required lazily through createRequire, which esbuild leaves alone).
//   node scripts/bundle.mjs
import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'dist', 'cli')
rmSync(outdir, { recursive: true, force: true }) // chunk names change with their content: no stale ones

await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'dist/src/cli/main.js',
    'early-signals': 'dist/src/cli/early-signals.js',
    'young-generation': 'dist/src/cli/young-generation.js',
    'tier-up': 'dist/src/cli/tier-up.js',
    'hash-thread': 'dist/src/core/hash-thread.js',
  },
  outdir,
  bundle: true,
  splitting: true, // each command's module is its own chunk, loaded by main.js when that command runs
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // No keepNames: it wraps every function and class, closures made in hot paths included, in a __name() call
  // (0.3 CPU-s of a 16-host round by perf). A function or class esbuild renames for a clash (readFully2) reads
  // so in a stack trace, and commander's errors name themselves by their class (CommanderError2 in a log);
  // nothing of ours reads a name (P2PError sets its own; commander's are told apart with instanceof).
  external: ['sodium-native', 'hyperdht', '@inquirer/prompts'],
  // The CommonJS packages inside (pino, the Noise stack) call require() for Node's modules and sodium-native.
  banner: {
    js: "import { createRequire as createRequireForBundle } from 'node:module';\nconst require = createRequireForBundle(import.meta.url);",
  },
  logLevel: 'warning',
})
