import type { RemoteKeyRules } from './session-checks.js'

/** What a DHT session (session.ts) is given, and how its connection was made. */

export type DhtPath = 'direct' | 'holepunched' | 'relayed'

export interface DhtSessionOptions extends RemoteKeyRules {
  initiator: boolean
  handshakeTimeoutMs: number
  proofKey?: Buffer | undefined
  /** How the connection was made, once open (the dialler knows: see dht-dial in download/). */
  path?: () => DhtPath
  /**
   * Once the stream is open, the other side's greeting or proof must come within this (default: what is left
   * of `handshakeTimeoutMs`): the long deadline is for a hole punch, and a key whose server opens and then
   * says nothing (a stranger's, by the hundred) should not hold a dial for all of it.
   */
  openedTimeoutMs?: number
}
