import { MAX_DATAGRAM_BYTES } from '../constants.js'
import { isIntegerIn, isRecord } from '../json-shape.js'
import { HEX64 } from '../manifest.js'
import { isValidName } from '../names.js'
import { MAX_ANNOUNCED_CHUNKS, PEER_ID, PROTOCOL_VERSION } from './announcement.js'

/**
 * The shape check of an announcement, done without the schema library: a downloader in a 16-host swarm
 * hears ~50 announcements a second, and zod's check of each (its objects,
 * its garbage) was about 5 % of that downloader's main thread in a
 * whole-machine profile (docs/benchmarks.md; the whole decode 7 %, its
 * JSON.parse 1 %).
 *
 * It may only answer less than the schema: undefined for anything unusual
 * (a missing field, a wrong type, a value out of range, a name refused),
 * and the caller then asks the schema, which accepts or refuses
 * it and says why. Whatever it accepts, the schema accepts with the same
 * values: test/unit/announcement-plain checks that on generated datagrams.
 */

export interface PlainFile {
  id: string
  name: string
  size: number
  chunks: number
  have: string
  from?: number
  files?: number
}

export interface PlainAnnouncement {
  v: typeof PROTOCOL_VERSION
  type: 'announce'
  peer: string
  transport?: string
  port: number
  /** Checked where it is read (announcement-decode.ts): any other form is ignored. */
  nonce?: unknown
  files: PlainFile[]
}

/**
 * `value` as an announcement when each of its fields is valid; else undefined
 * (ask the schema). Other fields are left alone, as the schema leaves them
 * (`passthrough`): nothing reads them.
 */
export function plainAnnouncement(value: unknown): PlainAnnouncement | undefined {
  if (!isRecord(value)) return undefined
  const { v, type, peer, transport, port, files } = value
  if (v !== PROTOCOL_VERSION || type !== 'announce') return undefined
  if (typeof peer !== 'string' || !PEER_ID.test(peer)) return undefined
  if (transport !== undefined && (typeof transport !== 'string' || transport.length > 16)) return undefined
  if (!isIntegerIn(port, 1, 65535)) return undefined
  if (!Array.isArray(files) || files.length > MAX_DATAGRAM_BYTES) return undefined
  for (const file of files) if (!isPlainFile(file)) return undefined
  return value as unknown as PlainAnnouncement
}

function isPlainFile(value: unknown): value is PlainFile {
  if (!isRecord(value)) return false
  const { id, name, size, chunks, have, from, files } = value
  return (
    typeof id === 'string' &&
    HEX64.test(id) &&
    isIntegerIn(size, 0, Number.MAX_SAFE_INTEGER) &&
    isIntegerIn(chunks, 0, MAX_ANNOUNCED_CHUNKS) &&
    typeof have === 'string' &&
    have.length <= MAX_DATAGRAM_BYTES &&
    (from === undefined || (isIntegerIn(from, 0, Number.MAX_SAFE_INTEGER) && from % 8 === 0)) &&
    (files === undefined || isIntegerIn(files, 0, MAX_ANNOUNCED_CHUNKS)) &&
    isValidName(name)
  )
}
