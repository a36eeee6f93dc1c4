import { z } from 'zod/v3'
import { Bitfield } from '../bitfield.js'
import { Coalescer } from '../coalescer.js'
import { MiB } from '../constants.js'
import { replaceSmallFile, writeFileAtomic } from '../disk.js'
import { P2PError } from '../errors.js'
import { parseJsonUtf8 } from '../json.js'
import { HEX64 } from '../manifest.js'
import { isValidName } from '../names.js'
import { isAbsent, readRegularFile } from '../safe-fs.js'
import { chunksAgreeWithSize } from './announcement.js'
import { type KnownFile, type PeerSource, summarizeClaims } from './claims.js'
import { fairListing } from './fair-listing.js'

/**
 * The content dictionary file that p2p-listen keeps and p2p-download reads
 * (version 2; docs/protocol.md): per file id, the claim most peers make
 * (name, size, chunks, for people and older readers) and every peer's own
 * claim with its have-set ("all" or the base64 bitfield) and when it was last
 * heard, in wall-clock time. Its size follows the dictionary's byte caps.
 * Also the bounded one-line summary `p2p-listen --json` prints.
 */

export const DICTIONARY_FILE_VERSION = 2
/** Largest dictionary file a reader accepts (the default caps make one of a few tens of MiB at most). */
export const MAX_DICTIONARY_FILE_BYTES = 128 * MiB
/** Longest line `p2p-listen --json` prints. */
export const MAX_JSON_LINE_BYTES = 1 * MiB

/** One claim in the file: the peer's own fields, its have-set as "all" or base64, lastSeen as an ISO time. */
export interface SnapshotPeer extends Omit<PeerSource, 'have' | 'lastSeen'> {
  have: string
  lastSeen: string
  /** How the peer was found (found-via.ts), when the writer knows. */
  via?: string
}

export interface DictionarySnapshot {
  version: number
  updatedAt: string
  files: Record<
    string,
    { name: string; size: number; chunks: number; files?: number; disputed: boolean; peers: SnapshotPeer[] }
  >
}

/** A clock conversion: the listener's clock `now` is wall-clock `wallNow`. */
export interface Clocks {
  now: number
  wallNow: number
  /** How the peer at an address was found (broadcast, ipv6, peer, known), written beside its claim. */
  via?: (address: string) => string
}

const wallTime = (t: number, c: Clocks): string => new Date(c.wallNow - (c.now - t)).toISOString()

function filePart(f: KnownFile): { name: string; size: number; chunks: number; files?: number; disputed: boolean } {
  return { name: f.name, size: f.size, chunks: f.chunks, ...folderPart(f), disputed: f.disputed }
}

/** A folder's file count, kept in the file and each claim (absent for a file). */
function folderPart(f: { files?: number }): { files?: number } {
  return f.files === undefined ? {} : { files: f.files }
}

function claimPart(p: PeerSource, c: Clocks): Omit<SnapshotPeer, 'have'> {
  return {
    peer: p.peer,
    ...(p.transport ? { transport: p.transport } : {}),
    address: p.address,
    port: p.port,
    name: p.name,
    size: p.size,
    chunks: p.chunks,
    ...folderPart(p),
    lastSeen: wallTime(p.lastSeen, c),
    ...(c.via ? { via: c.via(p.address) } : {}),
  }
}

export function toSnapshot(files: KnownFile[], c: Clocks): DictionarySnapshot {
  const out: DictionarySnapshot['files'] = {}
  for (const f of files) {
    out[f.id] = {
      ...filePart(f),
      peers: f.peers.map((p) => ({ ...claimPart(p, c), have: p.have.isComplete() ? 'all' : p.have.toBase64() })),
    }
  }
  return { version: DICTIONARY_FILE_VERSION, updatedAt: new Date(c.wallNow).toISOString(), files: out }
}

/**
 * The text of `JSON.stringify(toSnapshot(files, c), null, 1)` and a newline, made claim by claim: a writer
 * that writes each piece as it comes (disk.ts replaceSmallFile) never holds more than one claim's have-set in
 * base64 (at most the per-address cap's) beyond the dictionary itself, where the snapshot object, its text and
 * its bytes held it three times over (a flood of 2^24-chunk claims took p2p-listen to ~540 MB at the default
 * 32 MiB of claims). Read synchronously, with the writes: nothing changes between the pieces.
 */
export function* snapshotText(files: KnownFile[], c: Clocks): Generator<string> {
  const updatedAt = JSON.stringify(new Date(c.wallNow).toISOString())
  yield `{\n "version": ${DICTIONARY_FILE_VERSION},\n "updatedAt": ${updatedAt},\n "files": {`
  let first = true
  for (const f of files) {
    // The file's own fields as JSON.stringify indents them at this depth; "peers" is their last key.
    const head = JSON.stringify({ ...filePart(f), peers: [] }, null, 1).replaceAll('\n', '\n  ')
    const at = head.lastIndexOf(EMPTY_PEERS)
    yield `${first ? '' : ','}\n  ${JSON.stringify(f.id)}: ${head.slice(0, at)}"peers": [`
    first = false
    for (let i = 0; i < f.peers.length; i++) {
      const p = f.peers[i]!
      // The have-set (base64: nothing to escape) is a piece of its own, made last and copied once, into the file.
      const claim = JSON.stringify({ ...claimPart(p, c), have: '' }, null, 1).replaceAll('\n', '\n    ')
      const hole = claim.lastIndexOf(EMPTY_HAVE) + EMPTY_HAVE.length - 1
      yield `${i === 0 ? '' : ','}\n    ${claim.slice(0, hole)}`
      yield p.have.isComplete() ? 'all' : p.have.toBase64()
      yield claim.slice(hole)
    }
    yield `${f.peers.length === 0 ? '' : '\n   '}]${head.slice(at + EMPTY_PEERS.length)}`
  }
  yield first ? '}\n}\n' : '\n }\n}\n'
}

const EMPTY_PEERS = '"peers": []'
const EMPTY_HAVE = '"have": ""'

/**
 * One line for `p2p-listen --json`, at most `maxBytes`: `"ok":true` as every command's --json line, then the file's
 * shape with each peer's have-set given as `held` (how many chunks it has), files taken in turns by source address
 * until the line is full (fair-listing.ts: each source's bytes counted), and `omitted` counting those left out.
 */
export function jsonLine(files: KnownFile[], c: Clocks, maxBytes = MAX_JSON_LINE_BYTES): string {
  const head = `{"ok":true,"version":${DICTIONARY_FILE_VERSION},"updatedAt":${JSON.stringify(new Date(c.wallNow).toISOString())},"files":{`
  const room = maxBytes - Buffer.byteLength(head) - `},"omitted":${files.length}}`.length
  const parts: string[] = []
  let part = ''
  const { omitted } = fairListing(files, room + 1, {
    cost: (f, left) => {
      if (leastPartBytes(f, c) > left) return left + 1 // cannot fit: not made
      part = `${JSON.stringify(f.id)}:${JSON.stringify({ ...filePart(f), peers: f.peers.map((p) => ({ ...claimPart(p, c), held: p.have.count() })) })}`
      return Buffer.byteLength(part) + 1 // and the comma before it: the first has none, hence the room's one byte more
    },
    take: () => parts.push(part),
  })
  return `${head}${parts.join(',')}},"omitted":${omitted}}`
}

/**
 * Fewer bytes than `f`'s part of the --json line (comma aside): id and `:` (67), the file's keys (58) and name, each
 * claim's keys and `lastSeen` (110), peer ID, address, name and `via` (JSON has a byte at least per UTF-16 unit).
 */
export function leastPartBytes(f: KnownFile, c: Pick<Clocks, 'via'>): number {
  let bytes = 125 + f.name.length
  for (const p of f.peers)
    bytes += 110 + p.peer.length + p.address.length + p.name.length + (c.via ? 9 + c.via(p.address).length : 0)
  return bytes
}

// ---- reading ----

const peerSchema = z.object({
  peer: z.string().max(64),
  transport: z.string().max(16).optional(),
  address: z.string().max(64),
  port: z.number().int().min(1).max(65535),
  name: z.string().optional(),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  chunks: z.number().int().safe().min(0).optional(),
  files: z.number().int().safe().min(0).optional(),
  have: z.string(),
  lastSeen: z.string(),
})

const fileSchema = z.object({
  name: z.string(),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  chunks: z.number().int().safe().min(0),
  files: z.number().int().safe().min(0).optional(),
  peers: z.array(z.unknown()),
})

const snapshotSchema = z.object({
  version: z.number().int().safe().optional(), // absent: version 1, where the claim was the file's
  updatedAt: z.string(),
  files: z.record(z.string().regex(HEX64), z.unknown()),
})

/**
 * The claims in a dictionary file, as KnownFiles on the caller's clock
 * (`toLocal` converts a wall-clock time). A claim that breaks a rule a
 * datagram would be held to (name, chunks against size, have-set length) is
 * skipped, not trusted.
 */
export function claimsFromSnapshot(value: unknown, toLocal: (wall: number) => number): KnownFile[] {
  const parsed = snapshotSchema.safeParse(value)
  if (!parsed.success) throw new P2PError('E_BAD_DATAGRAM', 'not a valid content dictionary')
  const out: KnownFile[] = []
  for (const [id, entry] of Object.entries(parsed.data.files)) {
    const file = fileSchema.safeParse(entry)
    if (!file.success) continue
    const f = file.data
    const peers: PeerSource[] = []
    for (const raw of f.peers) {
      const p = peerSchema.safeParse(raw)
      if (!p.success) continue
      const name = p.data.name ?? f.name
      const size = p.data.size ?? f.size
      const chunks = p.data.chunks ?? f.chunks
      const files = p.data.files ?? f.files
      const have = parseHave(p.data.have, chunks)
      const lastSeen = Date.parse(p.data.lastSeen)
      if (!isValidName(name) || !chunksAgreeWithSize(size, chunks, files) || !have || Number.isNaN(lastSeen)) continue
      peers.push({
        peer: p.data.peer,
        ...(p.data.transport === 'noise' ? { transport: 'noise' as const } : {}),
        address: p.data.address,
        port: p.data.port,
        name,
        size,
        chunks,
        ...folderPart({ files }),
        have,
        lastSeen: toLocal(lastSeen),
      })
    }
    if (peers.length > 0) out.push(summarizeClaims(id, peers))
  }
  return out
}

function parseHave(text: string, chunks: number): Bitfield | undefined {
  if (text === 'all') return Bitfield.full(chunks)
  const bytes = Buffer.from(text, 'base64')
  if (bytes.length !== Math.ceil(chunks / 8) || bytes.toString('base64') !== text) return undefined
  const have = new Bitfield(chunks, new Uint8Array(bytes))
  return have.hasCleanTail() ? have : undefined
}

/** The parsed JSON of the dictionary file; undefined when there is none. Refuses anything but a regular file within the size bound. */
export async function readDictionaryFile(path: string, maxBytes = MAX_DICTIONARY_FILE_BYTES): Promise<unknown> {
  const bytes = await readDictionaryBytes(path, maxBytes)
  return bytes === undefined ? undefined : parseJsonUtf8(bytes)
}

/** The dictionary file's bytes (readDictionaryFile before its parse); undefined when there is none. */
export async function readDictionaryBytes(
  path: string,
  maxBytes = MAX_DICTIONARY_FILE_BYTES,
): Promise<Buffer | undefined> {
  try {
    // Opened non-blocking, regular files only: a FIFO put there must not hang the reader.
    return await readRegularFile(path, { maxBytes, followSymlinks: true })
  } catch (err) {
    if (isAbsent(err)) return undefined
    throw err
  }
}

/** The dictionary file's mode: its owner's alone (in a private swarm it holds what the wire keeps sealed). */
const DICTIONARY_MODE = 0o600

export async function writeDictionaryFile(path: string, snapshot: DictionarySnapshot): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(snapshot, null, 1)}\n`, { mode: DICTIONARY_MODE })
}

/** The least time from one write of a kept dictionary file to the next. */
export const DICTIONARY_WRITE_GAP_MS = 100

/**
 * Keeps `path` current with `snapshot()` (a snapshot, or its text in pieces: `snapshotText`): `request()` after
 * each change, `flush()` before stopping.
 */
export interface DictionaryFileWriter {
  request(): void
  flush(): Promise<void>
}

/**
 * Many changes, few writes (coalescer.ts): one write at a time, of the state
 * when it starts, then a wait of DICTIONARY_WRITE_GAP_MS or four times the
 * write's synchronous part (building and serialising the snapshot; waiting
 * for the disk costs no CPU), whichever is longer. So a flood of changes
 * costs at most a fifth of the CPU and holds one snapshot at a time.
 */
export function dictionaryFileWriter(
  path: string,
  snapshot: () => DictionarySnapshot | Iterable<string>,
  onError: (err: unknown) => void,
): DictionaryFileWriter {
  const writes = new Coalescer(
    () => {
      const made = snapshot()
      // Text in pieces is made and written synchronously: the coalescer spaces the writes by all of it.
      return Symbol.iterator in made
        ? replaceSmallFile(path, made, { mode: DICTIONARY_MODE })
        : writeDictionaryFile(path, made)
    },
    (cpuMs) => Math.max(DICTIONARY_WRITE_GAP_MS, 4 * cpuMs),
    onError,
  )
  return { request: () => writes.request(), flush: () => writes.flush() }
}
