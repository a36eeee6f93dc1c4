import type { Bitfield } from '../bitfield.js'
import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { P2PError } from '../errors.js'
import { summaryOf } from '../item.js'
import type { StoreEntry } from '../store.js'
import { folderField, PROTOCOL_VERSION } from './announcement.js'

/**
 * Announcement datagrams written (their format: announcement.ts; read back
 * in announcement-decode.ts): a store's entries packed greedily into
 * datagrams of a bounded size, a have-set too large for one in slices.
 */

export interface LocalFile {
  id: string
  name: string
  size: number
  have: Bitfield
  /** A folder: how many files it holds. */
  files?: number
}

/** What an announcement says of a store entry: a folder also says how many files it holds. */
export function localFileOf(e: StoreEntry): LocalFile {
  const summary = summaryOf(e.manifest)
  return {
    id: e.id,
    name: e.name,
    size: summary.size,
    have: e.have,
    ...(summary.folder ? { files: summary.folder.files } : {}),
  }
}

/** Every datagram needed to announce `files` (an empty list gives one goodbye datagram). */
export function encodeAnnouncements(
  peer: string,
  port: number,
  files: readonly LocalFile[],
  maxBytes = MAX_DATAGRAM_BYTES,
  transport?: 'noise',
): Buffer[] {
  return packAnnouncements(peer, port, files, { maxBytes, ...(transport ? { transport } : {}) }).datagrams
}

export interface PackedAnnouncements {
  datagrams: Buffer[]
  /** complete[i]: how many of the files (from the first) datagrams 0..i announce whole. */
  complete: number[]
}

export interface PackOptions {
  maxBytes?: number
  maxDatagrams?: number
  transport?: 'noise'
  /** An answer's: the query's nonce, said back in every datagram (Announcement.nonce). */
  nonce?: string
}

/**
 * Pack `files` greedily into announcement datagrams of at most `maxBytes`,
 * stopping after `maxDatagrams` (so an answer that can only hold a few does
 * not encode a whole store).
 */
export function packAnnouncements(
  peer: string,
  port: number,
  files: readonly LocalFile[],
  options: PackOptions = {},
): PackedAnnouncements {
  const room = entryRoom(peer, port, options)
  return packEntries(
    peer,
    port,
    (function* () {
      for (const f of files) yield fileEntries(f, room)
    })(),
    options,
  )
}

/**
 * A file's entries as `peer` announces them on `port` in datagrams of at
 * most `maxBytes`: one, or a have-set too large for one datagram in slices.
 * What packEntries packs.
 */
export function entryEncoder(peer: string, port: number, options: PackOptions = {}): (file: LocalFile) => string[] {
  const room = entryRoom(peer, port, options)
  return (file) => [...fileEntries(file, room)]
}

function announcementHead(peer: string, port: number, options: PackOptions): string {
  const field = options.transport ? `"transport":${JSON.stringify(options.transport)},` : ''
  const nonce = options.nonce ? `"nonce":${JSON.stringify(options.nonce)},` : ''
  return `{"v":${PROTOCOL_VERSION},"type":"announce","peer":${JSON.stringify(peer)},${field}"port":${port},${nonce}"files":[`
}

const TAIL = ']}'

/** Whether entries of `textBytes` in all (their separators included) fit in one datagram. */
export function fitsOneDatagram(peer: string, port: number, textBytes: number, options: PackOptions = {}): boolean {
  return textBytes <= entryRoom(peer, port, options)
}

/** The bytes a datagram has for entries. */
function entryRoom(peer: string, port: number, options: PackOptions): number {
  const head = announcementHead(peer, port, options)
  return (options.maxBytes ?? MAX_DATAGRAM_BYTES) - Buffer.byteLength(head) - TAIL.length
}

/**
 * Pack entries, a group per file (entryEncoder), greedily into
 * datagrams of at most `maxBytes`, stopping after `maxDatagrams`; no group
 * at all gives one datagram with no files (a goodbye).
 */
export function packEntries(
  peer: string,
  port: number,
  groups: Iterable<Iterable<string>>,
  options: PackOptions = {},
): PackedAnnouncements {
  const maxDatagrams = options.maxDatagrams ?? Infinity
  const head = announcementHead(peer, port, options)
  const room = entryRoom(peer, port, options)
  const datagrams: Buffer[] = []
  const complete: number[] = []
  let current: string[] = []
  let used = 0
  let whole = 0
  const flush = (): void => {
    datagrams.push(Buffer.from(head + current.join(',') + TAIL))
    complete.push(whole)
    current = []
    used = 0
  }
  for (const entries of groups) {
    for (const entry of entries) {
      const bytes = Buffer.byteLength(entry) + (current.length > 0 ? 1 : 0)
      if (used + bytes > room) {
        flush()
        if (datagrams.length >= maxDatagrams) return { datagrams, complete }
      }
      current.push(entry)
      used += Buffer.byteLength(entry) + (current.length > 1 ? 1 : 0)
    }
    whole++
  }
  if ((current.length > 0 || datagrams.length === 0) && datagrams.length < maxDatagrams) flush()
  return { datagrams, complete }
}

/**
 * The answer to a query that allows `budget` bytes: the packed datagrams as
 * far as they fit with room left for the "more" notice (`more(omitted)`) of
 * the files they leave out, then that notice; nothing at all when not even
 * the notice fits (a query of a few bytes gets silence, never more than it
 * allows). `whole`: how many of the `asked` files the answer holds whole.
 * `sealedBytes`: in a private swarm, what every datagram is on the wire
 * (padded, then sealed), counted in `bytes` and against the budget instead
 * of its length, so the bound holds on the wire.
 */
export function answerWithin(
  packed: PackedAnnouncements,
  asked: number,
  budget: number,
  more: (omitted: number) => Buffer,
  /** Sealed (a private swarm): every datagram's size on the wire, whatever its payload. */
  sealedBytes?: number,
): { datagrams: Buffer[]; bytes: number; whole: number } {
  const size = (d: Buffer): number => sealedBytes ?? d.length
  const datagrams: Buffer[] = []
  let bytes = 0
  let whole = 0
  for (const [i, d] of packed.datagrams.entries()) {
    const rest = asked - packed.complete[i]!
    const tail = rest > 0 ? size(more(rest)) : 0
    if (bytes + size(d) + tail > budget) break
    datagrams.push(d)
    bytes += size(d)
    whole = packed.complete[i]!
  }
  if (whole < asked) {
    const notice = more(asked - whole)
    datagrams.push(notice)
    bytes += size(notice)
  }
  return bytes > budget ? { datagrams: [], bytes: 0, whole: 0 } : { datagrams, bytes, whole }
}

/**
 * One JSON entry for a file, or several slices when its bitfield does not fit in `room` bytes: made one at a
 * time as they are packed, so an answer that holds a few encodes a few, not a bitfield of 2^24 chunks (answers
 * are made before their rate limit can refuse them, so each query would pay for the whole).
 */
function* fileEntries(f: LocalFile, room: number): Generator<string> {
  const chunks = f.have.length
  const base = { id: f.id, name: f.name, size: f.size, chunks, ...folderField(f) }
  if (f.have.isComplete()) {
    yield JSON.stringify({ ...base, have: 'all' })
    return
  }
  const bits = f.have.bytes
  // The whole entry's length without encoding it: base64 is 4 bytes for every 3, padded, and never escaped.
  if (Buffer.byteLength(JSON.stringify({ ...base, have: '' })) + 4 * Math.ceil(bits.length / 3) <= room) {
    yield JSON.stringify({ ...base, have: f.have.toBase64() })
    return
  }
  // Bytes of bitfield per slice: what fits beside the rest of the entry (base64 grows 4/3).
  const overhead = Buffer.byteLength(JSON.stringify({ ...base, have: '', from: chunks }))
  const bytesPerSlice = Math.floor((room - overhead) / 4) * 3
  if (bytesPerSlice <= 0)
    throw new P2PError('E_TOO_LARGE', `the name of ${f.name} is too long to announce in ${room} bytes`)
  for (let byte = 0; byte < bits.length; byte += bytesPerSlice) {
    const slice = Buffer.from(bits.subarray(byte, byte + bytesPerSlice)).toString('base64')
    yield JSON.stringify({ ...base, have: slice, from: byte * 8 })
  }
}
