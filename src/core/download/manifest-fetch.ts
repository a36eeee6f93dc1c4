import { P2PError, hasCode } from '../errors.js'
import type { Logger } from '../log.js'
import { type Manifest, manifestId, parseManifest } from '../manifest.js'
import { type ConnectionPool, type PeerAddress, peerKey } from '../pool.js'
import type { ChunkStore } from '../store.js'
import type { PeerClient } from '../transfer/client.js'

export interface ManifestSource {
  bytes: Buffer
  manifest: Manifest
  /** The peer it came from; undefined when the store already had it. */
  from: string | undefined
}

/**
 * The manifest for `id`: from our own store when a previous run left it there,
 * otherwise from the first peer that returns bytes hashing to the id. A peer
 * that returns anything else is recorded as a liar (the caller bans it).
 * Waits for peers until `deadline`.
 */
export async function fetchManifest(o: {
  id: string
  store: ChunkStore
  pool: ConnectionPool<PeerClient>
  peers: () => PeerAddress[]
  maxManifestBytes: number
  deadline: number
  now: () => number
  log: Logger
  signal: AbortSignal
  onLiar: (key: string, reason: string) => void
  waitForPeers: (ms: number) => Promise<void>
}): Promise<ManifestSource> {
  const local = await o.store.get(o.id)
  if (local) return { bytes: local.manifestBytes, manifest: local.manifest, from: undefined }
  const tried = new Map<string, number>()
  let lastError: P2PError | undefined
  for (;;) {
    o.signal.throwIfAborted()
    const candidates = o.peers().filter((p) => (tried.get(peerKey(p)) ?? 0) <= o.now())
    for (const peer of candidates) {
      const key = peerKey(peer)
      tried.set(key, o.now() + 1000)
      let lease
      try {
        lease = await o.pool.acquire(peer, o.signal)
        const bytes = await lease.connection.fetchManifest(o.id)
        if (manifestId(bytes) !== o.id) {
          o.onLiar(key, 'sent a manifest that does not hash to the id')
          continue
        }
        const manifest = parseManifest(bytes, { expectedId: o.id, maxBytes: o.maxManifestBytes })
        o.log.info({ peer: key, name: manifest.name, size: manifest.size }, 'manifest received')
        return { bytes, manifest, from: key }
      } catch (err) {
        if (o.signal.aborted) throw o.signal.reason
        if (hasCode(err, 'E_BAD_MANIFEST')) o.onLiar(key, err.message)
        lastError = hasCode(err) ? err : new P2PError('E_INTERNAL', String(err))
        o.log.debug({ peer: key, code: lastError.code, err: lastError.message }, 'manifest fetch failed')
      } finally {
        lease?.release()
      }
    }
    const left = o.deadline - o.now()
    if (left <= 0) {
      const why = lastError ? ` (last error: ${lastError.message} [${lastError.code}])` : ''
      throw new P2PError('E_NOT_FOUND', `no peer delivered the manifest of ${o.id.slice(0, 12)}… in time${why}: is a seeder running?`)
    }
    await o.waitForPeers(Math.min(left, 250))
  }
}
