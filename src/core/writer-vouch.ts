import { unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod/v3'
import { Bitfield } from './bitfield.js'
import { Coalescer } from './coalescer.js'
import { replaceSmallFile } from './disk.js'
import { type FileIdentity, sameFile } from './file-identity.js'
import { parseJsonUtf8 } from './json.js'
import { PACKED_VOUCH_FILE } from './packed.js'
import { type ProcessStamp, parseStamp, processStamp, stampState } from './process-stamp.js'
import { readRegularFileSync } from './safe-fs.js'
import { StampedFileCache } from './stamped-cache.js'

/**
 * `data.vouch`: VouchedChunks (vouched-chunks.ts) across processes. A
 * download's writer publishes, after its `data.have`s (WriterVouchPublisher),
 * which process it is, which file it opened as `data`, and which chunks it
 * verified and wrote into that file itself (its `have`, never what an
 * earlier run left listed); a p2p-serve beside it serves those chunks without
 * hashing them again, as a server inside the download's process does.
 * Without this, a separate p2p-serve hashes every chunk of a live download
 * it serves: `data` changes with every write, so no stamp lasts.
 *
 * The vouch holds only while its writer runs, as the in-process one lasts
 * only while the writer holds `data`: the writer removes it when it closes
 * `data`, after its last publish and before a finished file gets its final
 * name (which links to `data`), and a server asks at every use whether the
 * process is still the one that wrote it (process-stamp.ts), so a vouch left
 * by a killed writer, or from before a crash that lost the page cache, is
 * worth nothing, and so is one whose process /proc cannot show. Linux only:
 * elsewhere nothing is written and nothing trusted. What it shares with the
 * in-process vouch: a chunk changed in place behind the writer's back goes
 * out as it is, and the receiver's check refuses it (docs/security.md).
 */

export interface WriterVouch {
  /** The item's id: the vouch is for that manifest's chunks, never another's in the same directory. */
  readonly id: string
  readonly writer: ProcessStamp
  readonly data: FileIdentity
  /** The chunks the writer verified and wrote into `data`. */
  readonly verified: Bitfield
}

export function writerVouchPath(entryDir: string): string {
  return join(entryDir, PACKED_VOUCH_FILE)
}

/** Node's bigint stats give dev and ino as signed 64-bit numbers (overlayfs with xino sets the top bit). */
const signedDecimal = z.string().regex(/^-?\d{1,20}$/)
const vouchSchema = z
  .object({
    version: z.literal(1),
    id: z.string().regex(/^[0-9a-f]{64}$/),
    boot: z.string(),
    pid: z.number(),
    start: z.string(),
    dev: signedDecimal,
    ino: signedDecimal,
    verified: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
  })
  .strict()

export function encodeWriterVouch(vouch: WriterVouch): Buffer {
  const { id, writer, data, verified } = vouch
  return Buffer.from(
    JSON.stringify({
      version: 1,
      id,
      boot: writer.boot,
      pid: writer.pid,
      start: writer.start,
      dev: data.dev.toString(),
      ino: data.ino.toString(),
      verified: Buffer.from(verified.bytes).toString('base64'),
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
  const writer = parseStamp(parsed.pid, parsed.start, parsed.boot)
  const bits = Buffer.from(parsed.verified, 'base64')
  if (!writer || bits.length !== Math.ceil(count / 8) || bits.toString('base64') !== parsed.verified) return undefined
  const verified = new Bitfield(count, new Uint8Array(bits))
  if (!verified.hasCleanTail()) return undefined
  return { id: parsed.id, writer, data: { dev: BigInt(parsed.dev), ino: BigInt(parsed.ino) }, verified }
}

/** The most a vouch for `count` chunks may take on disk (the rest is refused unread). */
export function maxWriterVouchBytes(count: number): number {
  return 512 + 4 * Math.ceil(Math.ceil(count / 8) / 3)
}

/**
 * The writer's side: `verified` (a snapshot, its bytes in `file` already)
 * of item `id` published for the writer process `writer` (processStamp();
 * undefined without /proc: then nothing is published).
 * Throws what the write threw; the previous vouch, a subset, stays.
 */
export async function publishWriterVouch(
  entryDir: string,
  id: string,
  file: FileIdentity,
  verified: Bitfield,
  writer: ProcessStamp | undefined,
): Promise<void> {
  if (writer === undefined) return
  await replaceSmallFile(writerVouchPath(entryDir), encodeWriterVouch({ id, writer, data: file, verified }), {
    within: dirname(entryDir),
  })
}

/** No vouch left in `entryDir` (an absent one is fine; any other failure throws). */
export async function removeWriterVouch(entryDir: string): Promise<void> {
  await unlink(writerVouchPath(entryDir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err
  })
}

/** The least time from one vouch's write to the next of one writer: a vouch a little behind `data.have` costs at most a hash. */
export const VOUCH_GAP_MS = 100

/**
 * One writer's `data.vouch`s, in order, each a superset of the last: the
 * newest snapshot offered goes out VOUCH_GAP_MS after the previous write
 * ended (coalescer.ts), so neither `data.have` nor the writes into `data`
 * wait for it (a vouch behind by a moment means a hash, never a wrong
 * chunk). `stop` publishes nothing more and removes the vouch, after any
 * write under way.
 */
export class WriterVouchPublisher {
  private next: Bitfield | undefined
  // Not published (no /proc, a write error): a server hashes those chunks, as it would without the vouch.
  private readonly writes = new Coalescer(
    () => this.write(),
    () => VOUCH_GAP_MS,
    () => undefined,
  )
  /** This process's stamp, read from /proc once: it is the same for the writer's whole life. */
  private readonly writer = processStamp()

  constructor(
    private readonly entryDir: string,
    private readonly id: string,
    private readonly file: FileIdentity,
  ) {}

  /** `verified` (a snapshot whose bytes are in the file) to be vouched for soon. */
  offer(verified: Bitfield): void {
    this.next = verified
    this.writes.request()
  }

  /** No vouch from now on, and none left: throws when the vouch could not be removed. */
  async stop(): Promise<void> {
    await this.writes.stop()
    await removeWriterVouch(this.entryDir)
  }

  private async write(): Promise<void> {
    const verified = this.next
    this.next = undefined
    if (verified !== undefined) await publishWriterVouch(this.entryDir, this.id, this.file, verified, this.writer)
  }
}

/**
 * The server's side: each entry's `data.vouch` read once per version of the
 * file; whether its writer runs is asked at every use until the answer is
 * that it is gone, which stands for that version.
 */
export class WriterVouchCache {
  private readonly cache = new StampedFileCache<{ vouch: WriterVouch; gone: boolean }>()

  /**
   * Whether chunk `index` of item `id` (of `count` chunks), in `dir`, was
   * verified and written into `opened` by a writer running now. Ask before
   * reading the chunk, as VouchedChunks.has.
   */
  async vouches(dir: string, id: string, count: number, opened: FileIdentity, index: number): Promise<boolean> {
    const path = writerVouchPath(dir)
    const read = await this.cache.get(path, async () => {
      let bytes: Buffer | undefined
      try {
        // Synchronous, as data.have's read (packed.ts): a small file, read again after every publish.
        bytes = readRegularFileSync(path, { maxBytes: maxWriterVouchBytes(count) })
      } catch {
        // unreadable, absent or not a regular file: no vouch
      }
      const vouch = bytes && decodeWriterVouch(bytes, count)
      return vouch ? { vouch, gone: false } : undefined
    })
    if (read === undefined || read.gone || index >= count) return false
    const { vouch } = read
    if (vouch.id !== id || !vouch.verified.get(index) || !sameFile(vouch.data, opened)) return false
    const state = stampState(vouch.writer)
    read.gone = state === 'gone'
    return state === 'running'
  }
}
