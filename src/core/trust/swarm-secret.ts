import { createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { P2PError } from '../errors.js'
import { formatKey, parseKeyText } from './key-text.js'

/**
 * A private swarm's secret and the keys derived from it.
 *
 * `p2p secret` makes 32 random bytes and prints them as `psk1-` followed by
 * the checked text form of key-text.ts (256 bits; a typo is caught). Any
 * other text is a passphrase a person chose: NFC-normalised, at least
 * MIN_PASSPHRASE_CHARS characters of which at least MIN_DISTINCT_CHARS
 * distinct, and stretched with scrypt (SCRYPT below; the salt is fixed, as
 * every member must reach the same key, which is why the length rule is
 * strict). From the 32-byte master key, HKDF-SHA256 (salt HKDF_SALT) derives
 * one key per use, so no key serves two purposes:
 *   - `datagram`: seals announcements and queries (sealed-datagram.ts);
 *   - `tcp-proof`: proves, bound to one Noise handshake, that a TCP peer holds the secret;
 *   - `dht-topic`: keys a private swarm's DHT topics (issue 20);
 *   - `tag`: 4 bytes shown to people so they can compare secrets without revealing them.
 */

export const SECRET_PREFIX = 'psk1-'
export const MIN_PASSPHRASE_CHARS = 20
export const MIN_DISTINCT_CHARS = 8
/** scrypt cost: N = 2^17, r = 8, p = 1 (128 MiB, ~0.3–0.5 s here): the OWASP recommendation for scrypt. */
export const SCRYPT = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 } as const
const SCRYPT_SALT = 'p2pshare swarm passphrase v1'
const HKDF_SALT = 'p2pshare swarm v1'
const KEY_BYTES = 32

export interface SwarmKeys {
  datagramKey: Buffer
  proofKey: Buffer
  topicKey: Buffer
  /** 8 hex characters naming the swarm (not secret: a hash of a hash of the key). */
  tag: string
}

export function generateSecret(): string {
  return SECRET_PREFIX + formatKey(randomBytes(KEY_BYTES))
}

export type ParsedSecret = { kind: 'key'; key: Buffer } | { kind: 'passphrase'; passphrase: string }

/** What a secret's text is; E_USAGE for a damaged `psk1-` key or a weak passphrase. Never logs the text. */
export function parseSecret(text: string): ParsedSecret {
  const trimmed = text.trim()
  if (trimmed.toLowerCase().startsWith(SECRET_PREFIX)) {
    const parsed = parseKeyText(trimmed.slice(SECRET_PREFIX.length))
    if ('problem' in parsed) {
      const why =
        parsed.problem === 'check'
          ? 'fails its check characters (a typo?)'
          : parsed.problem === 'length'
            ? 'is not 56 characters after psk1-'
            : 'holds a character that is not A–Z or 2–7'
      throw new P2PError('E_USAGE', `the swarm secret ${why}: paste the whole line \`p2p secret\` printed`)
    }
    return { kind: 'key', key: parsed.key }
  }
  const passphrase = trimmed.normalize('NFC')
  const chars = [...passphrase]
  if (chars.length < MIN_PASSPHRASE_CHARS || new Set(chars).size < MIN_DISTINCT_CHARS) {
    throw new P2PError(
      'E_USAGE',
      `the swarm passphrase is too weak: at least ${MIN_PASSPHRASE_CHARS} characters, ${MIN_DISTINCT_CHARS} of them different (e.g. five random words); or make a key with \`p2p secret\``,
    )
  }
  return { kind: 'passphrase', passphrase }
}

/** The 32-byte master key of a secret (scrypt for a passphrase: run once per process). */
export async function masterKey(secret: ParsedSecret): Promise<Buffer> {
  if (secret.kind === 'key') return secret.key
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(secret.passphrase, 'utf8'), SCRYPT_SALT, KEY_BYTES, SCRYPT, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

export function deriveSwarmKeys(master: Buffer): SwarmKeys {
  const derive = (info: string, bytes = KEY_BYTES): Buffer =>
    Buffer.from(hkdfSync('sha256', master, HKDF_SALT, info, bytes))
  return {
    datagramKey: derive('datagram'),
    proofKey: derive('tcp-proof'),
    topicKey: derive('dht-topic'),
    tag: derive('tag', 4).toString('hex'),
  }
}

export async function swarmKeysFromText(text: string): Promise<SwarmKeys> {
  return deriveSwarmKeys(await masterKey(parseSecret(text)))
}

/**
 * The proof a TCP peer sends, as its first encrypted message, that it holds
 * the swarm secret: HMAC-SHA256(proofKey, PROOF_LABEL ‖ role ‖ handshake hash),
 * role 0x01 for the side that opened the connection, 0x02 for the other.
 * Bound to this connection's handshake hash (which both ends share and no
 * one else can steer), it cannot be replayed on another connection nor
 * relayed by a man in the middle, whose handshakes have other hashes.
 */
export const PROOF_BYTES = 32
const PROOF_LABEL = Buffer.from('p2pshare swarm proof v1\0')

export function swarmProof(proofKey: Buffer, handshakeHash: Buffer, initiator: boolean): Buffer {
  return createHmac('sha256', proofKey)
    .update(PROOF_LABEL)
    .update(Buffer.of(initiator ? 1 : 2))
    .update(handshakeHash)
    .digest()
}

export function checkSwarmProof(proofKey: Buffer, handshakeHash: Buffer, initiator: boolean, proof: Buffer): boolean {
  const expected = swarmProof(proofKey, handshakeHash, initiator)
  return proof.byteLength === expected.byteLength && timingSafeEqual(proof, expected)
}
