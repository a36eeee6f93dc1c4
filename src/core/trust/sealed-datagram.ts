import { BoundedMap } from '../bounded-map.js'
import { MAX_DATAGRAM_BYTES } from '../constants.js'
import sodium from './sodium.js'

/**
 * Sealed datagrams: in a private swarm every announcement, query and answer
 * travels inside one of these, so a stranger on the LAN sees only that some
 * p2pshare traffic exists (every payload is padded to the largest before it
 * is sealed: the announcer's, and queries by encodeQuery; so every sealed
 * datagram is one size).
 *
 *   0        4                      28                         n-16      n
 *   +--------+----------------------+--------------------------+---------+
 *   | "P2S1" | nonce: 24 random     | ciphertext of            | tag: 16 |
 *   | magic  | bytes, new per       | sent-at (8 bytes, BE, ms |         |
 *   |        | datagram             | since 1970) ‖ payload    |         |
 *   +--------+----------------------+--------------------------+---------+
 *
 * AEAD: XChaCha20-Poly1305 (IETF) from libsodium, key = the swarm's datagram
 * key (swarm-secret.ts), associated data = the magic; for an answer to a
 * query, the magic followed by the query's nonce, so only the querier opens
 * it (a member's answer replayed to another process's query port does not). A 24-byte random nonce
 * can be drawn per datagram without ever worrying about repeats. A receiver
 * opens a datagram only if it authenticates and was sent within `windowMs`
 * of its own clock (either way: peers' clocks must agree within the
 * window); the same nonce seen twice within the window is a replay
 * (ReplayFilter). The payload is an ordinary announcement, query or answer,
 * at most MAX_SEALED_PAYLOAD bytes so the whole stays within the datagram
 * limit.
 */

const MAGIC = Buffer.from('P2S1')
const NONCE_BYTES = 24
const TIME_BYTES = 8
const TAG_BYTES = 16
export const SEAL_OVERHEAD = MAGIC.length + NONCE_BYTES + TIME_BYTES + TAG_BYTES
export const MAX_SEALED_PAYLOAD = MAX_DATAGRAM_BYTES - SEAL_OVERHEAD

export type OpenFailure = 'size' | 'magic' | 'auth' | 'stale' | 'future'
export type Opened = { payload: Buffer; sentAt: number; nonce: string } | { failure: OpenFailure }

/** The associated data: the magic, and for an answer the nonce of the query it answers. */
const associated = (answering: Uint8Array | undefined): Buffer =>
  answering === undefined ? MAGIC : Buffer.concat([MAGIC, answering])

/** A sealed datagram's nonce (a query's, for binding its answers to it). */
export const nonceOf = (sealed: Uint8Array): Buffer =>
  Buffer.from(sealed.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES))

/**
 * `payload` sealed with `key`, stamped `now` (ms); `answering`: the nonce of the query this answers. `nonce`
 * only for tests; a fresh random one otherwise.
 */
export function sealDatagram(
  key: Buffer,
  payload: Uint8Array,
  now: number,
  nonce?: Buffer,
  answering?: Uint8Array,
): Buffer {
  if (payload.byteLength > MAX_SEALED_PAYLOAD)
    throw new RangeError(`a sealed payload is at most ${MAX_SEALED_PAYLOAD} bytes, not ${payload.byteLength}`)
  const out = Buffer.allocUnsafe(SEAL_OVERHEAD + payload.byteLength)
  MAGIC.copy(out, 0)
  const npub = out.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES)
  if (nonce) nonce.copy(npub)
  else sodium.randombytes_buf(npub)
  const plain = Buffer.allocUnsafe(TIME_BYTES + payload.byteLength)
  plain.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 0)
  plain.set(payload, TIME_BYTES)
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out.subarray(MAGIC.length + NONCE_BYTES),
    plain,
    associated(answering),
    null,
    npub,
    key,
  )
  return out
}

/**
 * The payload of a sealed datagram (an answer to the query of nonce `answering`, when given), or why it is
 * dropped. Pure and total: any bytes in, never a throw.
 */
export function openDatagram(
  key: Buffer,
  datagram: Uint8Array,
  now: number,
  windowMs: number,
  answering?: Uint8Array,
): Opened {
  if (datagram.byteLength < SEAL_OVERHEAD || datagram.byteLength > MAX_DATAGRAM_BYTES) return { failure: 'size' }
  const bytes = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength)
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { failure: 'magic' }
  const npub = bytes.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES)
  const plain = Buffer.allocUnsafe(bytes.byteLength - SEAL_OVERHEAD + TIME_BYTES)
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      plain,
      null,
      bytes.subarray(MAGIC.length + NONCE_BYTES),
      associated(answering),
      npub,
      key,
    )
  } catch {
    return { failure: 'auth' }
  }
  const sentAt = Number(plain.readBigUInt64BE(0))
  if (sentAt < now - windowMs) return { failure: 'stale' }
  if (sentAt > now + windowMs) return { failure: 'future' }
  return { payload: plain.subarray(TIME_BYTES), sentAt, nonce: npub.toString('base64') }
}

/** Whether a datagram's payload looks sealed (its magic), to tell a sealed swarm's traffic from plain JSON. */
export const looksSealed = (datagram: Uint8Array): boolean =>
  datagram.byteLength >= SEAL_OVERHEAD && Buffer.from(datagram.buffer, datagram.byteOffset, MAGIC.length).equals(MAGIC)

/**
 * Nonces of datagrams opened within the window: a datagram whose nonce is
 * here is a replay. Bounded in count (the oldest go first); only datagrams
 * that authenticated enter it, so only a member's traffic can fill it.
 */
export class ReplayFilter {
  private readonly seen: BoundedMap<string, number>

  constructor(
    private readonly windowMs: number,
    maxEntries = 65_536,
  ) {
    this.seen = new BoundedMap(maxEntries)
  }

  /** True the first time a nonce is offered within the window; false for a replay. */
  admit(nonce: string, sentAt: number, now: number): boolean {
    this.expire(now)
    if (this.seen.has(nonce)) return false
    this.seen.set(nonce, Math.max(sentAt, now))
    return true
  }

  get size(): number {
    return this.seen.size
  }

  private expire(now: number): void {
    // Entries go in by arrival: stop at the first one still inside the window (sentAt may be a bit out of order).
    for (const [nonce, at] of this.seen) {
      if (at >= now - 2 * this.windowMs) break
      this.seen.delete(nonce)
    }
  }
}
