import assert from 'node:assert/strict'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Cleanup } from './cleanup.js'
import { BROADCAST, type Daemon, startDaemon } from './swarm.js'

/** The content dictionary file as p2p-listen writes it (the parts tests read). */
export interface Snapshot {
  updatedAt: string
  files: Record<string, { name: string; chunks: number; peers: Array<{ address: string; port: number; have: string }> }>
}

/** The dictionary file, or undefined while it does not exist; throws if it is not valid JSON. */
export async function readDictionary(path: string): Promise<Snapshot | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Snapshot
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Probe every 25 ms until `ok` holds (bounded by `ms`); fails with the last value seen. */
export async function until<T>(probe: () => Promise<T | undefined>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms
  let last: T | undefined
  while (Date.now() < deadline) {
    last = await probe()
    if (last !== undefined && ok(last)) return last
    await new Promise((r) => setTimeout(r, 25))
  }
  assert.fail(`not reached within ${ms} ms; last: ${JSON.stringify(last)?.slice(0, 500)}`)
}

/** Files of that name in a snapshot. */
export const named = (s: Snapshot, name: string) => Object.values(s.files).filter((f) => f.name === name)

/**
 * A p2p-listen keeping `dictionary`, so a test can wait for an event ("both
 * seeders are heard") instead of sleeping. Start it before the announcers:
 * its start-up query then reaches nobody and leaves their rate limit for
 * answers untouched.
 */
export async function startListener(
  t: Cleanup,
  udpPort: number,
  dictionary: string,
  logsDir: string,
): Promise<Daemon & { seen(ok: (s: Snapshot) => boolean, ms?: number): Promise<Snapshot> }> {
  await mkdir(dirname(dictionary), { recursive: true })
  const daemon = startDaemon(t, 'p2p-listen', [
    '--json',
    '--dictionary',
    dictionary,
    '--stale-after',
    '60',
    '--udp-port',
    String(udpPort),
    '--broadcast',
    BROADCAST,
    '--logs-dir',
    logsDir,
  ])
  await daemon.firstLine // listening (its query is out)
  return { ...daemon, seen: (ok, ms = 30_000) => until(() => readDictionary(dictionary), ok, ms) }
}
