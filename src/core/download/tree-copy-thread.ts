/**
 * Worker thread behind tree-copier.ts: a folder's small files copied out of
 * the store's packed `data` into the temporary tree, one at a time, strictly
 * in the order asked. Each request is answered once:
 *   { job, identity }                   the file is made, written whole, closed, and its path still holds it
 *   { job, error, errno?, kind, path? } nothing more is done for that file (what the create made stays, for the
 *                                       tree's removal)
 * Every system call of a file is made here, synchronously: with 10,000 small
 * files they kept the download's main thread busy (an exclusive create costs
 * 0.05–0.3 ms on ext4 soon after many deletes), and one thread that only
 * does this needs no round trip per call.
 */
import { createHash } from 'node:crypto'
import { closeSync, fdatasyncSync, fstatSync, lstatSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { readChunkSync } from '../direct-io.js'
import { writeFullySync } from '../write-fully.js'
import type { CopyAnswer, CopyRequest, RecordedIdentity } from './tree-copier.js'
import { createExclusive } from './tree-local.js'

const port = parentPort!
/** The thread's one buffer: requests are handled one at a time, each file at most its size. */
let buffer: Buffer | undefined

class Refusal extends Error {
  constructor(
    readonly kind: 'swapped' | 'inconsistent' | 'short',
    readonly path: string,
    message = '',
  ) {
    super(message)
  }
}

function holds(recorded: RecordedIdentity, st: { dev: bigint; ino: bigint }): boolean {
  return recorded.dev === BigInt.asIntN(64, st.dev) && recorded.ino === BigInt.asIntN(64, st.ino)
}

function copy(m: CopyRequest): RecordedIdentity {
  // Every directory from the tree's root down is still the one the tree made (temp-tree.ts assertChain).
  for (const dir of m.chain) {
    const st = lstatSync(dir.path, { bigint: true })
    if (!st.isDirectory() || !holds(dir, st)) throw new Refusal('swapped', dir.path)
  }
  const fd = createExclusive(m.target, m.exec)
  let made: RecordedIdentity
  try {
    const st = fstatSync(fd, { bigint: true })
    made = { dev: BigInt.asIntN(64, st.dev), ino: BigInt.asIntN(64, st.ino) }
    if (buffer === undefined || buffer.length < m.size) buffer = Buffer.allocUnsafe(Math.max(m.size, 64 * 1024))
    const bytes = buffer.subarray(0, m.size)
    if (readChunkSync(m.source, bytes, m.size, m.offset) < m.size) throw new Refusal('short', m.target)
    if (m.hash) {
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      if (sha256 !== m.sha256) throw new Refusal('inconsistent', m.target, sha256)
    }
    writeFullySync(fd, bytes, 0)
    if (m.sync) fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
  // The path still holds the file written (a file swapped while it was written is not taken for it).
  const st = lstatSync(m.target, { bigint: true })
  if (!st.isFile() || !holds(made, st)) throw new Refusal('swapped', m.target)
  return made
}

function fsDetail(err: NodeJS.ErrnoException): { errno?: string; path?: string } {
  return { errno: err.code, path: err.path }
}

port.on('message', (m: CopyRequest) => {
  let answer: CopyAnswer
  try {
    answer = { job: m.job, identity: copy(m) }
  } catch (err) {
    answer =
      err instanceof Refusal
        ? { job: m.job, kind: err.kind, path: err.path, error: err.message }
        : { job: m.job, kind: 'fs', error: (err as Error).message, ...fsDetail(err as NodeJS.ErrnoException) }
  }
  port.postMessage(answer)
})
