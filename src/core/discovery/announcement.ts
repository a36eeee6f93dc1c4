import { z } from 'zod'
import { Bitfield } from '../bitfield.js'
import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { P2PError } from '../errors.js'
import { HEX64 } from '../manifest.js'
import { isValidName } from '../names.js'

/**
 * Discovery datagrams (UDP, one JSON object each, UTF-8, ≤ 1200 bytes):
 *
 *   {"v":1,"type":"query"}
 *   {"v":1,"type":"announce","peer":"<id>","port":<tcp port>,"files":[
 *      {"id":"<64 hex>","name":"…","size":N,"chunks":C,"have":"all"},
 *      {"id":…,…,"have":"<base64 bitfield>"},                  bit i = chunk i
 *      {"id":…,…,"have":"<base64 bitfield>","from":K} ]}       bit i = chunk K+i
 *
 * A store whose list does not fit in one datagram is spread over several,
 * each a valid announcement on its own; a receiver never treats one
 * datagram's list as complete (files expire one by one). A bitfield too big
 * for one datagram travels as slices: "from" (a multiple of 8) says which
 * chunk its first bit is, and the slice states exactly which chunks of
 * [from, from + 8 × bytes) the peer has. "files":[] is a goodbye.
 */

export const PROTOCOL_VERSION = 1
const PEER_ID = /^[0-9A-Za-z_-]{8,64}$/
/** Largest chunk count we accept in an announcement (2^24: 16 TiB of 1 MiB chunks). */
export const MAX_ANNOUNCED_CHUNKS = 1 << 24

export interface AnnouncedFile {
  id: string
  name: string
  size: number
  chunks: number
  /** "all", or the bits of chunks [from, from + have.length). */
  have: 'all' | Bitfield
  from: number
}

export interface Announcement {
  type: 'announce'
  peer: string
  port: number
  files: AnnouncedFile[]
}

export type DiscoveryMessage = Announcement | { type: 'query' }

const fileSchema = z.looseObject({
  id: z.string().regex(HEX64),
  name: z.string().refine(isValidName, 'invalid file name'),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  chunks: z.number().int().min(0).max(MAX_ANNOUNCED_CHUNKS),
  have: z.string().max(MAX_DATAGRAM_BYTES),
  from: z.number().int().min(0).multipleOf(8).optional(),
})

const messageSchema = z.discriminatedUnion('type', [
  z.looseObject({ v: z.literal(PROTOCOL_VERSION), type: z.literal('query') }),
  z.looseObject({
    v: z.literal(PROTOCOL_VERSION),
    type: z.literal('announce'),
    peer: z.string().regex(PEER_ID),
    port: z.number().int().min(1).max(65535),
    files: z.array(fileSchema).max(MAX_DATAGRAM_BYTES),
  }),
])

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Decode and validate one datagram; throws E_BAD_DATAGRAM (with `details.reason`) or E_TOO_LARGE. */
export function decodeDatagram(bytes: Uint8Array, maxBytes = MAX_DATAGRAM_BYTES): DiscoveryMessage {
  if (bytes.byteLength > maxBytes) throw new P2PError('E_TOO_LARGE', `datagram of ${bytes.byteLength} bytes is over ${maxBytes}`, { reason: 'too-large' })
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new P2PError('E_BAD_DATAGRAM', 'datagram is not UTF-8 JSON', { reason: 'not-json' })
  }
  const parsed = messageSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new P2PError('E_BAD_DATAGRAM', `datagram does not match the schema: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), { reason: 'schema' })
  }
  const m = parsed.data
  if (m.type === 'query') return { type: 'query' }
  const files = m.files.map((f): AnnouncedFile => {
    const from = f.from ?? 0
    if (f.have === 'all') {
      if (from !== 0) throw new P2PError('E_BAD_DATAGRAM', '"have":"all" cannot have "from"', { reason: 'have' })
      return { id: f.id, name: f.name, size: f.size, chunks: f.chunks, have: 'all', from: 0 }
    }
    if (!BASE64.test(f.have) || f.have.length % 4 !== 0) throw new P2PError('E_BAD_DATAGRAM', '"have" is not base64', { reason: 'have' })
    const raw = Buffer.from(f.have, 'base64')
    const bits = Math.min(raw.length * 8, f.chunks - from)
    if (from > 0 && from >= f.chunks) throw new P2PError('E_BAD_DATAGRAM', '"from" is past the last chunk', { reason: 'have' })
    if (raw.length !== Math.ceil(bits / 8)) throw new P2PError('E_BAD_DATAGRAM', '"have" is longer than the file', { reason: 'have' })
    const have = new Bitfield(bits, raw)
    if (!have.hasCleanTail()) throw new P2PError('E_BAD_DATAGRAM', '"have" sets bits past the last chunk', { reason: 'have' })
    return { id: f.id, name: f.name, size: f.size, chunks: f.chunks, have, from }
  })
  return { type: 'announce', peer: m.peer, port: m.port, files }
}

export function encodeQuery(): Buffer {
  return Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, type: 'query' }))
}

export interface LocalFile {
  id: string
  name: string
  size: number
  have: Bitfield
}

/** Every datagram needed to announce `files` (an empty list gives one goodbye datagram). */
export function encodeAnnouncements(peer: string, port: number, files: readonly LocalFile[], maxBytes = MAX_DATAGRAM_BYTES): Buffer[] {
  const head = `{"v":${PROTOCOL_VERSION},"type":"announce","peer":${JSON.stringify(peer)},"port":${port},"files":[`
  const tail = ']}'
  const room = maxBytes - Buffer.byteLength(head) - tail.length
  const datagrams: Buffer[] = []
  let current: string[] = []
  let used = 0
  const flush = (): void => {
    datagrams.push(Buffer.from(head + current.join(',') + tail))
    current = []
    used = 0
  }
  for (const entry of files.flatMap((f) => fileEntries(f, room))) {
    const bytes = Buffer.byteLength(entry) + (current.length > 0 ? 1 : 0)
    if (used + bytes > room) flush()
    current.push(entry)
    used += Buffer.byteLength(entry) + (current.length > 1 ? 1 : 0)
  }
  if (current.length > 0 || datagrams.length === 0) flush()
  return datagrams
}

/** One JSON entry for a file, or several slices when its bitfield does not fit in `room` bytes. */
function fileEntries(f: LocalFile, room: number): string[] {
  const chunks = f.have.length
  const base = { id: f.id, name: f.name, size: f.size, chunks }
  if (f.have.isComplete()) return [JSON.stringify({ ...base, have: 'all' })]
  const whole = JSON.stringify({ ...base, have: f.have.toBase64() })
  if (Buffer.byteLength(whole) <= room) return [whole]
  // Bytes of bitfield per slice: what fits beside the rest of the entry (base64 grows 4/3).
  const overhead = Buffer.byteLength(JSON.stringify({ ...base, have: '', from: chunks }))
  const bytesPerSlice = Math.floor((room - overhead) / 4) * 3
  if (bytesPerSlice <= 0) throw new P2PError('E_TOO_LARGE', `the name of ${f.name} is too long to announce in ${room} bytes`)
  const bits = f.have.bytes
  const entries: string[] = []
  for (let byte = 0; byte < bits.length; byte += bytesPerSlice) {
    const slice = Buffer.from(bits.subarray(byte, byte + bytesPerSlice)).toString('base64')
    entries.push(JSON.stringify({ ...base, have: slice, from: byte * 8 }))
  }
  return entries
}
