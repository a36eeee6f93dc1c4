import { createHash } from 'node:crypto'
import { P2PError } from '../errors.js'
import { isId } from '../manifest.js'

/**
 * The DHT topic a file is announced and looked up under (docs/protocol.md §6):
 *
 *   open swarm:    SHA-256( TOPIC_PREFIX ‖ 0x00 ‖ id )
 *   private swarm: SHA-256( TOPIC_PREFIX ‖ 0x01 ‖ topicKey ‖ id )
 *
 * where `id` is the file id's 32 bytes and `topicKey` the private swarm's
 * key for topics (swarm-secret.ts, HKDF "dht-topic"). The raw id never
 * reaches the DHT; a private swarm's topics cannot be computed, so not
 * looked up, without its secret. The mode byte keeps the two spaces apart.
 */

export const TOPIC_PREFIX = Buffer.from('p2pshare dht topic v1\0')
export const TOPIC_BYTES = 32

export function topicOf(id: string, topicKey?: Buffer): Buffer {
  if (!isId(id)) throw new P2PError('E_USAGE', `not a file id: ${JSON.stringify(String(id).slice(0, 80))}`)
  if (topicKey !== undefined && topicKey.byteLength !== 32)
    throw new P2PError('E_INTERNAL', `a topic key is 32 bytes, not ${topicKey.byteLength}`)
  const hash = createHash('sha256').update(TOPIC_PREFIX)
  if (topicKey === undefined) hash.update(Buffer.of(0))
  else hash.update(Buffer.of(1)).update(topicKey)
  return hash.update(Buffer.from(id, 'hex')).digest()
}
