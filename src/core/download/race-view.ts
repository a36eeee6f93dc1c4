import { type PeerAddress, peerKey } from '../pool.js'
import { addressKey } from '../transfer/admission.js'

/** The race reads the peers again at most this often once they changed (the first change at once). */
export const PEERS_READ_GAP_MS = 50
/** And at least this often whatever was said: a finder's peers may change with no change said (a peer's claim aging out, one come into view). */
export const PEERS_READ_EVERY_MS = 250

/**
 * The manifest race's view of the peers (manifest-fetch.ts): `peers()` as last
 * read, with each peer's key and host (addressKey) made as it is read, since
 * the race filters the view on every turn. It is read again once something
 * changed (the peer view, an attempt's end), at most every PEERS_READ_GAP_MS,
 * and every PEERS_READ_EVERY_MS whatever was said (as the race read it before):
 * a stranger announcing the file from a fresh port in every datagram (2,000 a
 * second) woke the race each time, and each read summarized the file's claims,
 * so a download waiting for its manifest spent a core (attacker pass).
 */
export class RaceView<P extends PeerAddress> {
  private peers: P[] = []
  private keys = new Map<P, { key: string; address: string }>()
  private readAt = -Infinity
  private changed = true

  constructor(private readonly read: () => P[]) {}

  /** Something the view may show changed: read again at the next `current` the gap allows. */
  stale(): void {
    this.changed = true
  }

  /** The peers, read again first if they changed and the gap since the last read is over. */
  current(now: number): readonly P[] {
    const age = now - this.readAt
    if ((this.changed && age >= PEERS_READ_GAP_MS) || age >= PEERS_READ_EVERY_MS) {
      this.peers = this.read()
      this.keys = new Map(this.peers.map((p) => [p, { key: peerKey(p), address: addressKey(p.address) }]))
      this.readAt = now
      this.changed = false
    }
    return this.peers
  }

  /** A peer of the view's key and host. */
  keysOf(peer: P): { key: string; address: string } {
    return this.keys.get(peer) ?? { key: peerKey(peer), address: addressKey(peer.address) }
  }

  /** When the view would be read again. */
  nextReadAt(): number {
    return this.readAt + (this.changed ? PEERS_READ_GAP_MS : PEERS_READ_EVERY_MS)
  }
}
