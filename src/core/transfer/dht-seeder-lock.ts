import { hasCode } from '../errors.js'
import { acquireLock } from '../lock.js'
import type { Logger } from '../log.js'
import { printable } from '../printable.js'
import type { ChunkStore } from '../store.js'
import type { Identity } from '../trust/identity.js'

/**
 * One DHT seeder of a key at a time (dht-seeder.ts): a second of the same key that stopped withdrew the key's relay
 * and unannounced its files, and the first stayed unreachable by its key until its next re-announce, ten minutes (a
 * UX audit). Locked in the store, and beside the identity file, which two stores may share (`--identity`): the
 * second is E_LOCKED, naming the first's process. An identity in a directory we may not write (a read-only mount) is
 * locked in the store alone. Returns the release of both.
 */
export async function lockDhtSeeding(
  store: ChunkStore,
  identity: Pick<Identity, 'peerId' | 'path'>,
  log: Logger,
): Promise<() => Promise<void>> {
  const what = `peer ID ${identity.peerId.slice(0, 7)}…`
  const how = '(p2p-serve --dht or p2p share --dht)'
  const unlockStore = await store.lock(
    `dht-${identity.peerId}`,
    what,
    `is seeded through the DHT from this store ${how}`,
  )
  let unlockIdentity: (() => Promise<void>) | undefined
  try {
    const doing = `is seeded through the DHT with the identity ${printable(identity.path)} ${how}`
    unlockIdentity = await acquireLock(`${identity.path}.dht.lock`, what, doing)
  } catch (err) {
    if (hasCode(err, 'E_LOCKED')) {
      await unlockStore()
      throw err
    }
    log.warn({ err: (err as Error).message }, 'DHT seeding not locked beside the identity file')
  }
  return async () => {
    await unlockIdentity?.()
    await unlockStore()
  }
}
