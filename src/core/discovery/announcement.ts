import type { Bitfield } from '../bitfield.js'
import { MAX_CHUNK_SIZE, MAX_DATAGRAM_BYTES, MIN_CHUNK_SIZE } from '../constants.js'

/**
 * Discovery datagrams (UDP, one JSON object each, UTF-8, ≤ 1200 bytes):
 *
 *   {"v":1,"type":"query"}                          ask for announcements (old form: 22 bytes)
 *   {"v":1,"type":"query","name":"…"}␠␠␠…           new form: padded with spaces to 1200 bytes,
 *   {"v":1,"type":"query","id":"<64 hex>"}␠␠␠…      optionally for one name or id
 *   {"v":1,"type":"more","omitted":N,"interval":S}  an answer's tail: N files did not fit,
 *                                                   the periodic announcements (every S s) carry them
 *   {"v":1,"type":"announce","peer":"<id>","port":<tcp port>,"files":[
 *      {"id":"<64 hex>","name":"…","size":N,"chunks":C,"have":"all"},
 *      {"id":…,…,"have":"<base64 bitfield>"},                  bit i = chunk i
 *      {"id":…,…,"have":"<base64 bitfield>","from":K} ]}       bit i = chunk K+i
 *      {"id":…,…,"files":F,"have":…}                           a folder of F files (folderField)
 *
 * A store whose list does not fit in one datagram is spread over several,
 * each a valid announcement on its own; a receiver never treats one
 * datagram's list as complete (files expire one by one). A bitfield too big
 * for one datagram travels as slices: "from" (a multiple of 8) says which
 * chunk its first bit is, and the slice states exactly which chunks of
 * [from, from + 8 × bytes) the peer has. "files":[] is a goodbye.
 *
 * Encoding here; decoding and validation in announcement-decode.ts.
 *
 * A query is answered with at most ANSWER_FACTOR times its own bytes, which
 * is why a new query pads itself (as QUIC's Initial does): the padding buys
 * the answer room, and a spoofed query cannot make anyone send much more than
 * its sender sent.
 */

export const PROTOCOL_VERSION = 1
export const PEER_ID = /^[0-9A-Za-z_-]{8,64}$/
/** Largest chunk count we accept in an announcement (2^24: 16 TiB of 1 MiB chunks). */
export const MAX_ANNOUNCED_CHUNKS = 1 << 24
/** An answer to a query is at most this many times the query's bytes. */
export const ANSWER_FACTOR = 3

/**
 * Whether a file of `size` bytes can have `chunks` chunks: chunk sizes run
 * from MIN_CHUNK_SIZE to MAX_CHUNK_SIZE, so ceil(size / MAX) ≤ chunks ≤
 * ceil(size / MIN), and only an empty file has none. A claim of 2^24 chunks
 * must therefore come with a size of at least 64 GiB.
 */
export function chunksAgreeWithSize(size: number, chunks: number, files?: number): boolean {
  if (files !== undefined) return folderChunksAgree(size, chunks, files)
  if (size === 0 || chunks === 0) return size === chunks
  return (
    chunks <= MAX_ANNOUNCED_CHUNKS &&
    Math.ceil(size / MAX_CHUNK_SIZE) <= chunks &&
    chunks <= Math.ceil(size / MIN_CHUNK_SIZE)
  )
}

/**
 * A folder's files each start on a fresh chunk (protocol.md §1), so each
 * may end in a short one: at most one chunk more per file than its bytes
 * need, and at least what the bytes need. Only a folder without bytes has
 * no chunk.
 */
function folderChunksAgree(size: number, chunks: number, files: number): boolean {
  if (size === 0 || chunks === 0) return size === chunks
  return (
    chunks <= MAX_ANNOUNCED_CHUNKS &&
    Math.ceil(size / MAX_CHUNK_SIZE) <= chunks &&
    chunks <= Math.ceil(size / MIN_CHUNK_SIZE) + files
  )
}

export interface AnnouncedFile {
  id: string
  name: string
  size: number
  chunks: number
  /** "all", or the bits of chunks [from, from + have.length). */
  have: 'all' | Bitfield
  from: number
  /** A folder: how many files it holds (absent for a file). */
  files?: number
}

export interface Announcement {
  type: 'announce'
  /** The announcer's peer ID (docs/protocol.md §5; an older peer's random store id). */
  peer: string
  /** "noise": its server speaks only the encrypted transport; absent: only the plain one. */
  transport?: 'noise'
  port: number
  /**
   * In an answer to a unicast query (an open swarm's), the querier's nonce for the peer asked, said back
   * (cookie-jar.ts): only the peer asked saw the query, so the answer is told apart from forged ones.
   */
  nonce?: string
  files: AnnouncedFile[]
}

/** What a query asks for: files with this id or this name (neither: every file). */
export interface QueryWant {
  id?: string
  name?: string
}

/** Whether a query asks for everything (no id, no name). */
export function asksEverything(want: QueryWant): boolean {
  return want.id === undefined && want.name === undefined
}

export interface Query {
  type: 'query'
  want: QueryWant
  /** The answerer's cookie for our address (answer-cookies.ts): the query then proves its source gets answers. */
  cookie?: string
  /** Ours for the peer asked (cookie-jar.ts): its cookie notice says it back, so a forged one is told apart. */
  nonce?: string
}

/** An answerer's cookie for the querier's address, to send with its next queries (answer-cookies.ts). */
export interface CookieNotice {
  type: 'cookie'
  cookie: string
  /** False: the answer was withheld (its budget for queries without a cookie is spent): ask again with this cookie. */
  answered: boolean
  /** The query's nonce, said back. */
  nonce?: string
}

/** A cookie on the wire: 16 bytes in lowercase hex. */
export const COOKIE = /^[0-9a-f]{32}$/
/** A query's nonce on the wire: 8 bytes in lowercase hex. */
export const NONCE = /^[0-9a-f]{16}$/

/** What a unicast query carries beside what it asks for (cookie-jar.ts). */
export interface QueryTokens {
  cookie?: string | undefined
  nonce?: string | undefined
}

/** The tail of an answer that could not hold every file. */
export interface MoreNotice {
  type: 'more'
  /** Files the answer left out. */
  omitted: number
  /** Seconds between the answerer's periodic announcements, which carry them. */
  interval: number
}

export type DiscoveryMessage = Announcement | Query | MoreNotice | CookieNotice

/**
 * A query for `want` (default: every file), padded with spaces (JSON allows
 * them after the object; older peers parse it as a plain query) to `padTo`
 * bytes so that answers have room: see ANSWER_FACTOR. With the `cookie` the
 * peer it goes to gave us (answer-cookies.ts) and our `nonce` for it.
 */
export function encodeQuery(want: QueryWant = {}, padTo = MAX_DATAGRAM_BYTES, tokens: QueryTokens = {}): Buffer {
  const { cookie, nonce } = tokens
  const text = JSON.stringify({
    v: PROTOCOL_VERSION,
    type: 'query',
    ...want,
    ...(cookie ? { cookie } : {}),
    ...(nonce ? { nonce } : {}),
  })
  return Buffer.from(text + ' '.repeat(Math.max(0, padTo - Buffer.byteLength(text))))
}

export function encodeMore(omitted: number, intervalS: number): Buffer {
  return Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, type: 'more', omitted, interval: intervalS }))
}

export function encodeCookie(cookie: string, answered: boolean, nonce?: string): Buffer {
  return Buffer.from(
    JSON.stringify({ v: PROTOCOL_VERSION, type: 'cookie', cookie, answered, ...(nonce ? { nonce } : {}) }),
  )
}

/** The folder part of a file entry: `"files":F` for a folder, nothing for a file. */
export function folderField(f: { files?: number | undefined }): { files?: number } {
  return f.files === undefined ? {} : { files: f.files }
}
