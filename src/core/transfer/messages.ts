import { z } from 'zod/v3'
import { type ErrorCode, isErrorCode, P2PError } from '../errors.js'
import { isIntegerIn } from '../json-shape.js'
import { HEX64 } from '../manifest.js'
import { printable } from '../printable.js'
import { describeIssue } from '../schema-issue.js'
import type { Header } from './frame-header.js'

/**
 * The messages of transfer protocol version 1, validated with schemas before
 * use. Objects are loose: unknown extra fields are ignored (room for later
 * versions); known fields must have exactly the documented types.
 *
 *   request   {"type":"manifest","id":"<64 hex>"}
 *             {"type":"chunk","id":"<64 hex>","index":<int ≥ 0>}
 *   response  {"type":"manifest","id":…,"size":N} + N bytes
 *             {"type":"chunk","id":…,"index":…,"size":N} + N bytes
 *             {"type":"error","code":"E_…","message":"…"}
 *             {"type":"error","code":"E_BUSY","message":"…","retryMs":N}   "not now" for a chunk (upload slots)
 *             {"type":"error","code":"E_BUSY","message":"…","retryMs":N,"place":P}   … and our place in its line
 */

/** The longest "not now" a peer may ask us to wait before asking it again. */
const MAX_RETRY_MS = 60_000
/** The highest place in an upload-slot line said on the wire: one per address, at most --max-connections (65,536). */
export const MAX_LINE_PLACE = 65_536

const id = z.string().regex(HEX64, 'id must be 64 lowercase hex characters')
const index = z
  .number()
  .int('index must be an integer')
  .nonnegative('index must not be negative')
  .max(Number.MAX_SAFE_INTEGER)

const manifestRequest = z.object({ type: z.literal('manifest'), id }).passthrough()
const chunkRequest = z.object({ type: z.literal('chunk'), id, index }).passthrough()
const request = z.discriminatedUnion('type', [manifestRequest, chunkRequest])

export type Request = z.infer<typeof request>

const manifestResponse = z
  .object({ type: z.literal('manifest'), id, size: z.number().int().safe().nonnegative() })
  .passthrough()
const chunkResponse = z
  .object({ type: z.literal('chunk'), id, index, size: z.number().int().safe().nonnegative() })
  .passthrough()
const errorResponse = z
  .object({
    type: z.literal('error'),
    code: z.string().max(64),
    message: z.string().max(4096),
    /** With E_BUSY for a chunk: "not now", ask again after this long. */
    retryMs: z.number().int().nonnegative().max(MAX_RETRY_MS).optional(),
    /** With a "not now": our place in the server's upload-slot line, 1 being next (upload-slots.ts). */
    place: z.number().int().min(1).max(MAX_LINE_PLACE).optional(),
  })
  .passthrough()
const response = z.discriminatedUnion('type', [manifestResponse, chunkResponse, errorResponse])

export type Response = z.infer<typeof response>

function describe(error: z.ZodError): string {
  if (error.issues[0]?.code === 'invalid_union_discriminator') return 'unknown or missing "type"'
  return describeIssue(error, true)
}

/** A request header, or E_BAD_REQUEST saying what is wrong. */
export function parseRequest(header: Header): Request {
  return plainRequest(header) ?? parseRequestBySchema(header)
}

/** A response header, or E_BAD_FRAME (a server that does not speak the protocol). */
export function parseResponse(header: Header): Response {
  return plainResponse(header) ?? parseResponseBySchema(header)
}

/** As `parseRequest`, every header through the schema: the reference the plain path is tested against. */
export function parseRequestBySchema(header: Header): Request {
  const result = request.safeParse(header)
  if (!result.success) throw new P2PError('E_BAD_REQUEST', `bad request: ${describe(result.error)}`)
  return result.data
}

/** As `parseResponse`, every header through the schema. */
export function parseResponseBySchema(header: Header): Response {
  const result = response.safeParse(header)
  if (!result.success) throw new P2PError('E_BAD_FRAME', `bad response from peer: ${describe(result.error)}`)
  return result.data
}

/*
 * The plain paths: a header of the usual shape checked without the schema
 * library, whose objects and passes were most of a header's cost (a
 * downloader among sixteen parses ~1,000 a second, docs/benchmarks.md).
 * Each may only answer less than the schema: undefined for anything else,
 * and the schema then accepts or refuses it and says why. What one accepts,
 * the schema accepts with the same values (unit/messages-plain checks it on
 * generated headers); the header itself is returned, as `passthrough` keeps
 * its other fields.
 */

function plainRequest(h: Header): Request | undefined {
  if (Object.hasOwn(h, '__proto__')) return undefined // the schema drops it: so must what is returned
  if (typeof h.id !== 'string' || !HEX64.test(h.id)) return undefined
  if (h.type === 'chunk') return isIntegerIn(h.index, 0, Number.MAX_SAFE_INTEGER) ? (h as Request) : undefined
  return h.type === 'manifest' ? (h as Request) : undefined
}

function plainResponse(h: Header): Response | undefined {
  if (Object.hasOwn(h, '__proto__')) return undefined
  if (h.type === 'error') {
    const { code, message, retryMs, place } = h
    const plain =
      typeof code === 'string' &&
      code.length <= 64 &&
      typeof message === 'string' &&
      message.length <= 4096 &&
      (retryMs === undefined || isIntegerIn(retryMs, 0, MAX_RETRY_MS)) &&
      (place === undefined || isIntegerIn(place, 1, MAX_LINE_PLACE))
    return plain ? (h as Response) : undefined
  }
  if (typeof h.id !== 'string' || !HEX64.test(h.id) || !isIntegerIn(h.size, 0, Number.MAX_SAFE_INTEGER))
    return undefined
  if (h.type === 'chunk') return isIntegerIn(h.index, 0, Number.MAX_SAFE_INTEGER) ? (h as Response) : undefined
  return h.type === 'manifest' ? (h as Response) : undefined
}

/**
 * A server's error frame as our error; a code we do not know is reported as a
 * protocol error. The peer's text is made printable here, once (escape
 * sequences, bidi controls… shown as `\x1b`, `\u202e`: printable.ts), so no
 * later reader of the message — the terminal, the log, `--json` piped to
 * `jq -r` — ever gets the raw bytes.
 */
export function errorFromResponse(r: {
  code: string
  message: string
  retryMs?: number | undefined
  place?: number | undefined
}): P2PError {
  const code: ErrorCode = isErrorCode(r.code) ? r.code : 'E_BAD_FRAME'
  return new P2PError(code, `peer: ${printable(r.message, 300)}`, {
    peerCode: printable(r.code, 64),
    ...(r.retryMs !== undefined ? { retryMs: r.retryMs } : {}),
    ...(r.place !== undefined ? { place: r.place } : {}),
  })
}

/** A peer's "not now": how long to leave it alone, and our place in its upload-slot line if it said (a newer server). */
export interface NotNow {
  retryMs: number
  place: number | undefined
}

/**
 * A peer's "not now" for a chunk (E_BUSY with retryMs, in answer to a request), as parsed (bounded) above.
 * Undefined for any other error, including E_BUSY on accept (a server at its connection limit), which is a failure.
 */
export function notNowOf(err: P2PError): NotNow | undefined {
  const { retryMs, place } = err.details ?? {}
  if (err.code !== 'E_BUSY' || typeof retryMs !== 'number') return undefined
  return { retryMs, place: typeof place === 'number' ? place : undefined }
}

export function errorHeader(code: ErrorCode, message: string): Header {
  return { type: 'error', code, message }
}
