import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type { SecretStreamFactory } from 'hyperdht'
import { P2PError } from '../errors.js'
import sodium from '../trust/sodium.js'
import { MessageLengths } from './message-lengths.js'

/**
 * The most a p2pshare peer writes to a DHT connection at a time (session.ts), so the most a message carries. A wire
 * limit since the fortieth session: a peer that writes more is cut by peers of that version and later.
 */
export const MAX_DHT_WRITE_BYTES = 64 * 1024
/** The largest message a p2pshare peer sends through the DHT: one write, sealed (libsodium's secretstream tag). */
export const MAX_DHT_MESSAGE_BYTES = MAX_DHT_WRITE_BYTES + sodium.crypto_secretstream_xchacha20poly1305_ABYTES

/**
 * The engine's secret-stream reads a whole message before it opens it, and a message may claim up to 16 MiB (its
 * 3-byte length): a stranger's server a download dials, or a stranger dialling a seeder, could make us hold that
 * much per connection, and a download dials up to 64 of them. These streams read each message's length from its
 * prefix and close the connection (E_TOO_LARGE) at a message longer than any of ours, before holding more of it
 * than the engine's fixed read buffer.
 * hyperdht takes the factory for the streams it makes (`createSecretStream`, on a dial and on a server).
 */
export function boundedSecretStreams(Base: typeof NoiseSecretStream): SecretStreamFactory {
  class BoundedSecretStream extends Base {
    // Declared, not initialised: the base constructor may hand us the first bytes before a field initialiser runs.
    declare private lengths: MessageLengths | undefined

    override _onrawdata(data: Uint8Array): void {
      this.lengths ??= new MessageLengths(MAX_DHT_MESSAGE_BYTES)
      const over = this.lengths.scan(data)
      if (over === undefined) super._onrawdata(data)
      else
        this.destroy(
          new P2PError('E_TOO_LARGE', `a message of ${over} bytes (ours are at most ${MAX_DHT_MESSAGE_BYTES})`, {
            messageBytes: over,
          }),
        )
    }
  }
  return (isInitiator, rawStream, options) => new BoundedSecretStream(isInitiator, rawStream, options)
}
