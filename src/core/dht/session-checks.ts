import { hasCode, P2PError } from '../errors.js'
import { formatPeerId } from '../trust/peer-id.js'

/** Which keys a DHT session accepts on the other side (session.ts). */
export interface RemoteKeyRules {
  /** The key that was dialled: the stream must have reached it. */
  expectedRemoteKey?: Buffer | undefined
  /** The allow-list, when there is one. */
  allow?: ((remoteKey: Buffer) => boolean) | undefined
}

/** The key the stream reached, once it is known to be the one dialled and allowed; E_AUTH otherwise. */
export function acceptedRemoteKey(key: Buffer | null | undefined, rules: RemoteKeyRules, label: string): Buffer {
  if (!key) throw new P2PError('E_AUTH', `${label} gave no key`)
  if (rules.expectedRemoteKey && !rules.expectedRemoteKey.equals(key))
    throw new P2PError('E_AUTH', `${label} holds another key than the one dialled`, { keyMismatch: true })
  if (rules.allow && !rules.allow(key))
    throw new P2PError('E_AUTH', `${label} (${formatPeerId(key)}) is not on the allow-list`, { notAllowed: true })
  return key
}

/** The engine stream's error as ours: E_TOO_LARGE for a message longer than any of ours (bounded-stream.ts), else E_CLOSED. */
export function streamFailure(err: Error & { code?: unknown }, label: string): P2PError {
  if (hasCode(err, 'E_TOO_LARGE'))
    return new P2PError('E_TOO_LARGE', `${label} sent ${err.message} through the DHT`, err.details)
  return new P2PError('E_CLOSED', `connection to ${label} failed: ${err.message}`, {
    ...(typeof err.code === 'string' ? { dhtCode: err.code } : {}),
  })
}
