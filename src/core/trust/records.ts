import { P2PError } from '../errors.js'
import sodium from './sodium.js'

/**
 * The record layer of an encrypted connection, byte for byte that of
 * hyperswarm's secret-stream (so a stock NoiseSecretStream is a compatible
 * peer: see the interop test), with our own buffers:
 *
 *   every message: | L: 3 bytes, little-endian | L bytes |
 *   after the Noise handshake, each side's first message (L = 56):
 *       | stream id: 32 bytes | secretstream header: 24 bytes |
 *     stream id = NoiseSecretStream.id(handshake hash, sender is initiator)
 *   then records (L = plaintext + 17):
 *       crypto_secretstream_xchacha20poly1305_push(plaintext, tag MESSAGE, no ad)
 *     keyed with the first 32 bytes of the handshake's tx (sender) / rx (receiver) key.
 *
 * libsodium's secretstream numbers its messages internally: a record that
 * is dropped, repeated, reordered or altered fails to authenticate, and the
 * connection is closed (E_TAMPERED). Pure: no sockets here.
 */

export const LENGTH_BYTES = 3
export const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
const HEADERBYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
const STATEBYTES = sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES
const KEYBYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
export const STREAM_ID_BYTES = 32
export const STREAM_HEADER_BYTES = STREAM_ID_BYTES + HEADERBYTES
/** Plaintext bytes per record we send; we accept no record larger (the receive buffer's bound). */
export const MAX_RECORD_PLAINTEXT = 64 * 1024
export const MAX_RECORD_BYTES = MAX_RECORD_PLAINTEXT + ABYTES
/** What a record adds to its plaintext on the wire. */
export const RECORD_OVERHEAD = LENGTH_BYTES + ABYTES

/** A record whose length (`length`, from its prefix) is over MAX_RECORD_BYTES: refused before anything is allocated for it. */
export function recordTooLarge(length: number, label: string): P2PError {
  return new P2PError(
    'E_TOO_LARGE',
    `${label} sent a ${length}-byte encrypted record, over the limit of ${MAX_RECORD_BYTES}`,
  )
}

export function writeLength(out: Buffer, at: number, length: number): void {
  out[at] = length & 255
  out[at + 1] = (length >>> 8) & 255
  out[at + 2] = (length >>> 16) & 255
}

export function readLength(bytes: Buffer, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)
}

/** Bytes on the wire for `plaintext` bytes cut into records. */
export function sealedLength(plaintext: number): number {
  return plaintext + Math.max(1, Math.ceil(plaintext / MAX_RECORD_PLAINTEXT)) * RECORD_OVERHEAD
}

/**
 * sodium-native neither reads nor writes memory of a SharedArrayBuffer (it
 * silently leaves the output untouched: a record of zeros). The chunk
 * buffers of servers and downloads are ordinary memory for that reason
 * (buffer-pool.ts); shared bytes a caller passes all the same go through an
 * ordinary buffer: one copy, 64 KiB at a time.
 */
export const isShared = (bytes: Uint8Array): boolean =>
  typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer

const scratch = Buffer.alloc(MAX_RECORD_PLAINTEXT)

function unshared(bytes: Buffer): Buffer {
  bytes.copy(scratch)
  return scratch.subarray(0, bytes.byteLength)
}

export class RecordSealer {
  private readonly state = Buffer.alloc(STATEBYTES)
  /** The 56-byte message (with its length prefix: 59 bytes) that opens this direction. */
  readonly streamHeader: Buffer

  constructor(tx: Buffer, streamId: Buffer) {
    this.streamHeader = Buffer.alloc(LENGTH_BYTES + STREAM_HEADER_BYTES)
    writeLength(this.streamHeader, 0, STREAM_HEADER_BYTES)
    streamId.copy(this.streamHeader, LENGTH_BYTES)
    sodium.crypto_secretstream_xchacha20poly1305_init_push(
      this.state,
      this.streamHeader.subarray(LENGTH_BYTES + STREAM_ID_BYTES),
      tx.subarray(0, KEYBYTES),
    )
  }

  /** Seal `plain` into `out` (exactly sealedLength(plain.length) bytes) as records of at most MAX_RECORD_PLAINTEXT. */
  sealInto(plain: Buffer, out: Buffer): void {
    let at = 0
    let from = 0
    const shared = isShared(plain)
    do {
      const take = Math.min(MAX_RECORD_PLAINTEXT, plain.byteLength - from)
      writeLength(out, at, take + ABYTES)
      sodium.crypto_secretstream_xchacha20poly1305_push(
        this.state,
        out.subarray(at + LENGTH_BYTES, at + RECORD_OVERHEAD + take),
        shared ? unshared(plain.subarray(from, from + take)) : plain.subarray(from, from + take),
        null,
        TAG_MESSAGE,
      )
      at += RECORD_OVERHEAD + take
      from += take
    } while (from < plain.byteLength)
  }
}

export class RecordOpener {
  private readonly state = Buffer.alloc(STATEBYTES)
  private readonly tag = Buffer.alloc(1)
  private started = false

  constructor(
    private readonly rx: Buffer,
    private readonly expectedStreamId: Buffer,
  ) {}

  get ready(): boolean {
    return this.started
  }

  /** The peer's first message (without its length prefix). */
  start(message: Buffer): void {
    if (
      message.byteLength !== STREAM_HEADER_BYTES ||
      !message.subarray(0, STREAM_ID_BYTES).equals(this.expectedStreamId)
    ) {
      throw new P2PError('E_TAMPERED', 'the encrypted stream did not start with the header this handshake implies')
    }
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(
      this.state,
      message.subarray(STREAM_ID_BYTES),
      this.rx.subarray(0, KEYBYTES),
    )
    this.started = true
  }

  /** Open one record (without its length prefix) into `out` (at least record − ABYTES bytes); returns the plaintext length. */
  openInto(record: Buffer, out: Buffer): number {
    if (record.byteLength < ABYTES)
      throw new P2PError('E_TAMPERED', `an encrypted record of ${record.byteLength} bytes is shorter than its tag`)
    const plain = record.byteLength - ABYTES
    // Into shared memory (pooled chunk buffers): in place first, then copied (see isShared).
    const into = isShared(out) ? record.subarray(1, 1 + plain) : out.subarray(0, plain)
    try {
      sodium.crypto_secretstream_xchacha20poly1305_pull(this.state, into, this.tag, record, null)
      if (into !== out && into.buffer !== out.buffer) into.copy(out)
    } catch {
      throw new P2PError(
        'E_TAMPERED',
        'an encrypted record failed authentication (altered, dropped or replayed in transit)',
      )
    }
    if (this.tag[0] !== TAG_MESSAGE)
      throw new P2PError('E_TAMPERED', `an encrypted record carries tag ${this.tag[0]}, not a message`)
    return plain
  }
}
