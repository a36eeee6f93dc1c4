import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../helpers/cli.js'

/**
 * `bench/swarm.mjs --perf` reads `perf script` back into CPU-seconds by what the CPU did and whose it was, and
 * `--perf-js` into JavaScript functions by innermost frame, outermost frame and anywhere on the stack. perf and
 * root are not needed here: the parser is given perf's text.
 */

type ByRole = Map<string, Map<string, number>>
interface Profile {
  seconds: number
  table: ByRole
  functions: ByRole
  outermost: ByRole
  inclusive: ByRole
  mainThreads: Map<string, number>
}
type ProfileOfLines = (lines: Iterable<string>, roles: Map<number, string>) => Promise<Profile>

const HZ = 249
const JS = (name: string, line: number): string => `JS:~${name} file:///work/x/dist/cli/chunk-A.js:${line}:1`

/** One sample as perf script prints it: "pid/tid time:", then its frames innermost first, then a blank line. */
function sample(pid: number, tid: number, time: number, frames: Array<[string, string]>): string[] {
  return [`  ${pid}/${tid}  ${time.toFixed(6)}: `, ...frames.map(([ip, sym]) => `\t    ${ip} ${sym}`), '']
}

const USER = '55d0c0a1b2c3'
const KERNEL = 'ffffffff81a2b3c4'

describe('the machine profile of a round', () => {
  it('charges each sample to its role and category, and JavaScript by innermost, outermost and any frame', async () => {
    const { profileOfLines } = (await import(pathToFileURL(join(ROOT, 'bench', 'machine-profile.mjs')).href)) as {
      profileOfLines: ProfileOfLines
    }
    const lines = [
      // a download's main thread in its own code, begun by a socket's read
      ...sample(10, 10, 1.0, [
        [USER, 'Builtins_LoadIC'],
        [USER, JS('inner', 1)],
        [USER, JS('middle', 2)],
        [USER, JS('onStreamRead', 3)],
        [USER, 'uv_run'],
      ]),
      ...sample(10, 10, 1.5, [
        [USER, JS('inner', 1)],
        [USER, JS('onStreamRead', 3)],
      ]),
      // the same thread in the kernel's network code under JavaScript: not user space, but on the stack
      ...sample(10, 10, 2.0, [
        [KERNEL, 'tcp_sendmsg'],
        [KERNEL, 'do_syscall_64'],
        [USER, JS('send', 4)],
        [USER, JS('pump', 5)],
      ]),
      // hashing on the main thread: its own category
      ...sample(10, 10, 2.5, [
        [USER, 'sha256_block_data_order_shaext'],
        [USER, JS('digest', 6)],
      ]),
      // a worker thread of the same process: user space, in no function table (they are the main threads')
      ...sample(10, 11, 3.0, [
        [USER, 'Builtins_LoadIC'],
        [USER, JS('hashJob', 7)],
      ]),
      // an idle CPU
      ...sample(0, 0, 3.5, [[KERNEL, 'pvm_safe_halt']]),
    ]
    const profile = await profileOfLines(lines, new Map([[10, 'p2p-download']]))
    // Seconds back to samples (each 1/HZ s; sums of them are not exact in floating point).
    const n = (seconds: number | undefined): number => Math.round((seconds ?? 0) * HZ)
    const counts = (byFunction: Map<string, number> | undefined): Map<string, number> =>
      new Map([...(byFunction ?? [])].map(([f, seconds]) => [f, n(seconds)]))
    const user = 'user space: JavaScript and V8, libc (aria2c, curl, nginx: their own code)'
    assert.equal(profile.seconds, 2.5)
    assert.equal(n(profile.table.get(user)?.get('p2p-download')), 3)
    assert.equal(n(profile.table.get('kernel: network')?.get('p2p-download')), 1)
    assert.equal(n(profile.table.get('SHA-256')?.get('p2p-download')), 1)
    assert.equal(n(profile.table.get('idle')?.get('other')), 1)

    const name = (n: string, line: number): string => `${n} dist/cli/chunk-A.js:${line}:1`
    // The main threads' only, as the tables say: the worker's sample is user space, but in no function table.
    assert.deepEqual(counts(profile.functions.get('p2p-download')), new Map([[name('inner', 1), 2]]))
    // What began the work, on the main thread only: both of its user-space samples began with the socket's read.
    assert.deepEqual(counts(profile.outermost.get('p2p-download')), new Map([[name('onStreamRead', 3), 2]]))
    const inclusive = counts(profile.inclusive.get('p2p-download'))
    assert.equal(inclusive.get(name('onStreamRead', 3)), 2)
    assert.equal(inclusive.get(name('pump', 5)), 1)
    assert.equal(inclusive.get(name('digest', 6)), 1)
    assert.equal(inclusive.has(name('hashJob', 7)), false)
    assert.equal(n(profile.mainThreads.get('p2p-download')), 4)
  })
})
