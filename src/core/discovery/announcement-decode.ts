import { z } from 'zod/v3'
import { Bitfield } from '../bitfield.js'
import { MAX_CHUNK_SIZE, MAX_DATAGRAM_BYTES, MIN_CHUNK_SIZE } from '../constants.js'
import { P2PError } from '../errors.js'
import { parseJsonUtf8 } from '../json.js'
import { HEX64 } from '../manifest.js'
import { isValidName } from '../names.js'
import { describeIssue } from '../schema-issue.js'
import {
  type AnnouncedFile,
  COOKIE,
  chunksAgreeWithSize,
  type DiscoveryMessage,
  folderField,
  MAX_ANNOUNCED_CHUNKS,
  NONCE,
  PEER_ID,
  PROTOCOL_VERSION,
  type Query,
  type QueryWant,
} from './announcement.js'
import { type PlainAnnouncement, plainAnnouncement } from './announcement-plain.js'

/**
 * Discovery datagrams read back (their format: announcement.ts): each one
 * validated against its schema before any field is used, so that a claim
 * costs what its bytes do (bitfields checked against the chunk count, slices
 * of one file agreeing with each other).
 */

const fileSchema = z
  .object({
    id: z.string().regex(HEX64),
    name: z.string().refine(isValidName, 'invalid file name'),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    chunks: z.number().int().min(0).max(MAX_ANNOUNCED_CHUNKS),
    have: z.string().max(MAX_DATAGRAM_BYTES),
    from: z.number().int().safe().min(0).multipleOf(8).optional(),
    files: z.number().int().min(0).max(MAX_ANNOUNCED_CHUNKS).optional(),
  })
  .passthrough()

const querySchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    type: z.literal('query'),
    id: z.string().regex(HEX64).optional(),
    name: z.string().refine(isValidName, 'invalid file name').optional(),
    cookie: z.string().regex(COOKIE).optional(),
    nonce: z.string().regex(NONCE).optional(),
  })
  .passthrough()

const messageSchema = z.discriminatedUnion('type', [
  querySchema,
  z
    .object({
      v: z.literal(PROTOCOL_VERSION),
      type: z.literal('more'),
      omitted: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      interval: z.number().min(0).max(1e6),
    })
    .passthrough(),
  z
    .object({
      v: z.literal(PROTOCOL_VERSION),
      type: z.literal('cookie'),
      cookie: z.string().regex(COOKIE),
      answered: z.boolean(),
      nonce: z.string().regex(NONCE).optional(),
    })
    .passthrough(),
  z
    .object({
      v: z.literal(PROTOCOL_VERSION),
      type: z.literal('announce'),
      peer: z.string().regex(PEER_ID),
      transport: z.string().max(16).optional(),
      port: z.number().int().min(1).max(65535),
      files: z.array(fileSchema).max(MAX_DATAGRAM_BYTES),
    })
    .passthrough(),
])

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function refuseOversized(bytes: Uint8Array, maxBytes: number): void {
  if (bytes.byteLength > maxBytes)
    throw new P2PError('E_TOO_LARGE', `datagram of ${bytes.byteLength} bytes is over ${maxBytes}`, {
      reason: 'too-large',
    })
}

/** A datagram's JSON; throws E_TOO_LARGE or E_BAD_DATAGRAM (reason `not-json`). */
function datagramJson(bytes: Uint8Array, maxBytes: number): unknown {
  refuseOversized(bytes, maxBytes)
  return parsedJson(bytes)
}

/** The JSON of a datagram already within the size bound; throws E_BAD_DATAGRAM (reason `not-json`). */
function parsedJson(bytes: Uint8Array): unknown {
  try {
    return parseJsonUtf8(bytes)
  } catch {
    throw new P2PError('E_BAD_DATAGRAM', 'datagram is not UTF-8 JSON', { reason: 'not-json' })
  }
}

function schemaError(error: z.ZodError): P2PError {
  return new P2PError('E_BAD_DATAGRAM', `datagram does not match the schema: ${describeIssue(error)}`, {
    reason: 'schema',
  })
}

function queryOf(m: z.infer<typeof querySchema>): Query {
  const want: QueryWant = {
    ...(m.id !== undefined ? { id: m.id } : {}),
    ...(m.name !== undefined ? { name: m.name } : {}),
  }
  return {
    type: 'query',
    want,
    ...(m.cookie !== undefined ? { cookie: m.cookie } : {}),
    ...(m.nonce !== undefined ? { nonce: m.nonce } : {}),
  }
}

const QUERY = Buffer.from('query')
const BACKSLASH = 0x5c

/**
 * A query (what it asks for, its cookie), or undefined when the datagram is not a query; throws
 * as `decodeDatagram` for one that is bad. For an announcer, which hears every
 * peer's announcements on its port and answers only queries: the others cost
 * it a search for the bytes `query` (a query's type is spelled so, or written
 * with escapes), not a JSON parse and a validation of every file they list
 * (that was a fifth of a p2p-announce's busy time in a 16-host swarm,
 * docs/benchmarks.md). Bad datagrams are the listeners' to count.
 */
export function decodeQuery(bytes: Uint8Array, maxBytes = MAX_DATAGRAM_BYTES): Query | undefined {
  refuseOversized(bytes, maxBytes)
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (!view.includes(QUERY) && !view.includes(BACKSLASH)) return undefined
  const value = parsedJson(bytes)
  if (typeof value !== 'object' || value === null || (value as { type?: unknown }).type !== 'query') return undefined
  const parsed = querySchema.safeParse(value)
  if (!parsed.success) throw schemaError(parsed.error)
  return queryOf(parsed.data)
}

/** Decode and validate one datagram; throws E_BAD_DATAGRAM (with `details.reason`) or E_TOO_LARGE. */
export function decodeDatagram(bytes: Uint8Array, maxBytes = MAX_DATAGRAM_BYTES): DiscoveryMessage {
  const value = datagramJson(bytes, maxBytes)
  return fromChecked(plainAnnouncement(value) ?? schemaChecked(value))
}

/** As `decodeDatagram`, every datagram through the schema: the reference the plain path is tested against. */
export function decodeDatagramBySchema(bytes: Uint8Array, maxBytes = MAX_DATAGRAM_BYTES): DiscoveryMessage {
  return fromChecked(schemaChecked(datagramJson(bytes, maxBytes)))
}

type Checked = z.infer<typeof messageSchema>

function schemaChecked(value: unknown): Checked {
  const parsed = messageSchema.safeParse(value)
  if (!parsed.success) throw schemaError(parsed.error)
  return parsed.data
}

/** A message of the schema's shape, with what the schema cannot say checked (chunks against size, slices, bitfields). */
function fromChecked(m: Checked | PlainAnnouncement): DiscoveryMessage {
  if (m.type === 'query') return queryOf(m)
  if (m.type === 'more') return { type: 'more', omitted: m.omitted, interval: m.interval }
  if (m.type === 'cookie')
    return {
      type: 'cookie',
      cookie: m.cookie,
      answered: m.answered,
      ...(m.nonce !== undefined ? { nonce: m.nonce } : {}),
    }
  const claims = new Map<string, string>()
  const files = m.files.map((f): AnnouncedFile => {
    if (!chunksAgreeWithSize(f.size, f.chunks, f.files)) {
      throw new P2PError(
        'E_BAD_DATAGRAM',
        `${f.chunks} chunks cannot make ${f.size} bytes (chunks are ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE} bytes)`,
        { reason: 'chunks' },
      )
    }
    // Slices of one file share its claim: one datagram cannot say two things about an id.
    const claim = JSON.stringify([f.name, f.size, f.chunks, f.files])
    if ((claims.get(f.id) ?? claim) !== claim)
      throw new P2PError('E_BAD_DATAGRAM', 'two entries for one id disagree', { reason: 'inconsistent' })
    claims.set(f.id, claim)
    const from = f.from ?? 0
    if (f.have === 'all') {
      if (from !== 0) throw new P2PError('E_BAD_DATAGRAM', '"have":"all" cannot have "from"', { reason: 'have' })
      return { id: f.id, name: f.name, size: f.size, chunks: f.chunks, have: 'all', from: 0, ...folderField(f) }
    }
    if (!BASE64.test(f.have) || f.have.length % 4 !== 0)
      throw new P2PError('E_BAD_DATAGRAM', '"have" is not base64', { reason: 'have' })
    const raw = Buffer.from(f.have, 'base64')
    const bits = Math.min(raw.length * 8, f.chunks - from)
    if (from > 0 && from >= f.chunks)
      throw new P2PError('E_BAD_DATAGRAM', '"from" is past the last chunk', { reason: 'have' })
    if (raw.length !== Math.ceil(bits / 8))
      throw new P2PError('E_BAD_DATAGRAM', '"have" is longer than the file', { reason: 'have' })
    const have = new Bitfield(bits, raw)
    if (!have.hasCleanTail())
      throw new P2PError('E_BAD_DATAGRAM', '"have" sets bits past the last chunk', { reason: 'have' })
    return { id: f.id, name: f.name, size: f.size, chunks: f.chunks, have, from, ...folderField(f) }
  })
  return {
    type: 'announce',
    peer: m.peer,
    ...(m.transport === 'noise' ? { transport: 'noise' } : {}),
    port: m.port,
    // An answer's nonce said back; one of another form is no nonce of ours (an unknown field, ignored).
    ...(typeof m.nonce === 'string' && NONCE.test(m.nonce) ? { nonce: m.nonce } : {}),
    files,
  }
}
