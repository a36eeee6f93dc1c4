import { lstat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod/v3'
import { Bitfield } from './bitfield.js'
import { stampOf, writeFileAtomic } from './disk.js'
import { type FileIdentity, sameFile } from './file-identity.js'
import { parseJsonUtf8 } from './json.js'
import { PACKED_VOUCH_FILE } from './packed.js'
import { isRunningNow, type ProcessStamp, processStamp } from './process-stamp.js'
import { readRegularFile } from './safe-fs.js'

/**
 * `data.vouch`: VouchedChunks (vouched-chunks.ts) across processes. A
 * download's writer says, when it opens a store entry's packed `data`, which
 * process it is and which file it opened; from then on every chunk that
 * `data.have` lists and that was not listed when it opened (`unchecked`) is
 * one it verified and wrote itself, so a p2p-serve beside it may serve that
 * chunk without hashing it again, as a server inside the download's process
 * does. Without this, a separate p2p-serve hashes every chunk of a live
 * download it serves: `data` changes with every write, so no stamp lasts.
 *
 * The vouch holds only while its writer runs, exactly as the in-process one
 * lasts only while the writer holds `data`: the writer removes it when it
 * closes `data` (before a finished file gets its final name, which links to
 * `data`), and a server checks, at every use, that the process is still the
 * one that wrote it (pid and start time from /proc, this boot's id), so a
 * vouch left by a killed writer, or from before a crash that lost the page
 * cache, is worth nothing. Linux only: elsewhere nothing is written and
 * nothing trusted. What it shares with the in-process vouch: a chunk changed
 * in place behind the writer's back goes out as it is, and the receiver's
 * check refuses it (docs/security.md).
 */

export interface WriterVouch {
  readonly writer: ProcessStamp
  readonly data: FileIdentity
  /** Chunks `data.have` listed when the writer opened `data`: not checked by it, never vouched for. */
  readonly unchecked: Bitfield
}

export function writerVouchPath(entryDir: string): string {
  return join(entryDir, PACKED_VOUCH_FILE)
}

const decimal = z.string().regex(/^\d{1,40}$/)
/** Node's bigint stats give dev and ino as signed 64-bit numbers (overlayfs with xino sets the top bit). */
const signedDecimal = z.string().regex(/^-?\d{1,40}$/)
const vouchSchema = z
  .object({
    version: z.literal(1),
    boot: z.string().regex(/^[0-9a-f-]{1,64}$/),
    pid: z
      .number()
      .int()
      .positive()
      .max(2 ** 31),
    start: decimal,
    dev: signedDecimal,
    ino: signedDecimal,
    unchecked: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
  })
  .strict()

export function encodeWriterVouch(vouch: WriterVouch): Buffer {
  const { writer, data, unchecked } = vouch
  return Buffer.from(
    JSON.stringify({
      version: 1,
      boot: writer.boot,
      pid: writer.pid,
      start: writer.start,
      dev: data.dev.toString(),
      ino: data.ino.toString(),
      unchecked: Buffer.from(unchecked.bytes).toString('base64'),
    }),
  )
}

/** The vouch in `bytes` for an entry of `count` chunks, or undefined when they are not exactly one. */
export function decodeWriterVouch(bytes: Uint8Array, count: number): WriterVouch | undefined {
  let parsed: z.infer<typeof vouchSchema>
  try {
    const result = vouchSchema.safeParse(parseJsonUtf8(bytes))
    if (!result.success) return undefined
    parsed = result.data
  } catch {
    return undefined
  }
  const bits = Buffer.from(parsed.unchecked, 'base64')
  if (bits.length !== Math.ceil(count / 8) || bits.toString('base64') !== parsed.unchecked) return undefined
  const unchecked = new Bitfield(count, new Uint8Array(bits))
  if (!unchecked.hasCleanTail()) return undefined
  return {
    writer: { boot: parsed.boot, pid: parsed.pid, start: parsed.start },
    data: { dev: BigInt(parsed.dev), ino: BigInt(parsed.ino) },
    unchecked,
  }
}

/** The most a vouch for `count` chunks may take on disk (the rest is refused unread). */
export function maxWriterVouchBytes(count: number): number {
  return 512 + 4 * Math.ceil(Math.ceil(count / 8) / 3)
}

/**
 * The writer's side: say, before anything is written into `data` in this
 * run, that this process opened `file` with `unchecked` listed. Returns
 * false when it could not (not Linux, or the write failed): then a server
 * hashes as before. Any earlier vouch is gone first, whatever happens next.
 */
export async function publishWriterVouch(entryDir: string, file: FileIdentity, unchecked: Bitfield): Promise<boolean> {
  await removeWriterVouch(entryDir).catch(() => undefined)
  const writer = processStamp()
  if (writer === undefined) return false
  try {
    await writeFileAtomic(writerVouchPath(entryDir), encodeWriterVouch({ writer, data: file, unchecked }), {
      within: dirname(entryDir),
    })
    return true
  } catch {
    return false
  }
}

/** The writer lets go of `data`: no vouch is left (an absent one is fine; any other failure throws). */
export async function removeWriterVouch(entryDir: string): Promise<void> {
  await unlink(writerVouchPath(entryDir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err
  })
}

/**
 * The server's side: each entry's `data.vouch` read once per version of the
 * file (its stamp); the writer's liveness is asked at every use.
 */
export class WriterVouchCache {
  private readonly cache = new Map<string, { stamp: string; vouch: WriterVouch | undefined }>()

  constructor(private readonly maxEntries = 10_000) {}

  /**
   * Whether chunk `index` of the entry in `dir` (of `count` chunks), listed
   * by `data.have`, was verified and written into `opened` by a writer
   * running now. Ask before reading the chunk, as VouchedChunks.has.
   */
  async vouches(dir: string, count: number, opened: FileIdentity, index: number): Promise<boolean> {
    const vouch = await this.get(dir, count)
    return (
      vouch !== undefined &&
      index < count &&
      !vouch.unchecked.get(index) &&
      sameFile(vouch.data, opened) &&
      isRunningNow(vouch.writer)
    )
  }

  private async get(dir: string, count: number): Promise<WriterVouch | undefined> {
    const path = writerVouchPath(dir)
    let stamp: string
    try {
      const st = await lstat(path, { bigint: true })
      if (!st.isFile()) throw new Error('not a regular file')
      stamp = stampOf(st)
    } catch {
      this.cache.delete(dir)
      return undefined
    }
    const cached = this.cache.get(dir)
    if (cached?.stamp === stamp) return cached.vouch
    const vouch = await readRegularFile(path, { maxBytes: maxWriterVouchBytes(count) }).then(
      (bytes) => decodeWriterVouch(bytes, count),
      () => undefined,
    )
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(dir, { stamp, vouch })
    return vouch
  }
}
