import { join } from 'node:path'
import { Announcer, type AnnouncerOptions } from '../../src/core/discovery/announcer.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { type Cleanup, onCleanup } from './cleanup.js'
import { randomFile } from './files.js'
import { BROADCAST } from './swarm.js'

/** A chunk store in `dir`/chunks holding `files` (name, size) of random bytes, split in chunks of 4 KiB. */
export async function storeWith(dir: string, files: Array<[string, number]>) {
  const store = new ChunkStore(join(dir, 'chunks'))
  await store.init()
  const ids: string[] = []
  for (const [name, size] of files) {
    await randomFile(join(dir, name), size)
    ids.push((await splitFile(join(dir, name), { store, chunkSize: 4096 })).id)
  }
  return { store, ids }
}

/** An announcer of `store` on loopback broadcast, stopped when the test ends. */
export function announcer(
  t: Cleanup,
  store: ChunkStore,
  udpPort: number,
  tcpPort: number,
  intervalMs = 60_000,
  more: Partial<AnnouncerOptions> = {},
): Announcer {
  const a = new Announcer({ store, udpPort, tcpPort, broadcast: [BROADCAST], intervalMs, changeDelayMs: 50, ...more })
  onCleanup(t, () => a.stop())
  return a
}
