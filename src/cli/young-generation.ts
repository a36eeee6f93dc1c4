import { setFlagsFromString } from 'node:v8'

/**
 * Keeps V8's young generation at its starting size (1 MiB semi-spaces)
 * instead of letting it grow to 16 MiB ones: a download allocates steadily
 * (messages, promises, buffer views) and little of it survives, so the grown
 * semi-spaces were ~12 MB of peak RSS and bought no speed (issue 19,
 * docs/benchmarks.md: 1 GiB from 2 seeders 137 → 125 MB, same wall time).
 * `--max-semi-space-size` would do the same but only on node's command line
 * (V8 sizes the heap once, when it is created; set here it is ignored);
 * the growth factor is read each time the young generation would grow, so
 * it works at run time. This module must run before the command's other
 * modules are even loaded, so the bin/ script imports it and only then
 * imports the command with `await import()`: loading them is what grows the
 * young generation (to 16 MiB semi-spaces before the first byte is asked
 * for), and a module's static imports are all loaded before its body runs.
 */
const keepYoungGenerationSmall = (): void => setFlagsFromString('--semi-space-growth-factor=1')
keepYoungGenerationSmall()
// V8 raises the growth factor to at least 2 whenever it sets up a heap (Heap::ConfigureHeap), and a worker
// thread (the hash thread, hashing.ts) is a new heap: the young generation then grew to 8–16 MiB
// semi-spaces in a download with many peers. Set again once the worker runs (between its heap's set-up
// and 'online' reaching this thread it may still grow, by one step at most in the swarm bench).
process.on('worker', (worker) => worker.once('online', keepYoungGenerationSmall))
