import { z } from 'zod'
import { Bitfield } from '../bitfield.js'
import { P2PError } from '../errors.js'
import { HEX64 } from '../manifest.js'
import { isValidName } from '../names.js'
import { writeFileAtomic } from '../store.js'
import { readRegularFile } from '../safe-fs.js'
import { type Announcement, MAX_ANNOUNCED_CHUNKS } from './announcement.js'

/**
 * The content dictionary: for each file id, its name, size, chunk count and
 * the peers that have (some of) it, each with the address the datagram came
 * from (never one the payload claims), its TCP port, peer id, have-set and
 * when it was last heard. Bounded: at most `maxFiles` files and `maxPeers`
 * distinct peers; past a cap the entry heard from longest ago is evicted, so
 * a flood of fake peers cannot grow memory. One source address holds at most
 * `maxPeersPerAddress` peers and evicts its own oldest first, so a flood from
 * one host cannot push honest peers out. Each (file, peer) pair expires on
 * its own, since a big store is announced over several datagrams. Times are
 * on the caller's clock (the listener uses a monotonic one).
 */

export interface DictionaryLimits {
  maxFiles: number
  maxPeers: number
  maxPeersPerFile: number
  /** Peers (ports) one source address may hold: a single host flooding fake peers only evicts its own. */
  maxPeersPerAddress: number
}

export const DEFAULT_DICTIONARY_LIMITS: DictionaryLimits = { maxFiles: 10_000, maxPeers: 1_000, maxPeersPerFile: 256, maxPeersPerAddress: 16 }

export interface PeerSource {
  peer: string
  address: string
  port: number
  /** Full-length have-set (one bit per chunk). */
  have: Bitfield
  lastSeen: number
}

export interface KnownFile {
  id: string
  name: string
  size: number
  chunks: number
  peers: PeerSource[]
}

interface FileRecord {
  id: string
  name: string
  size: number
  chunks: number
  peers: Map<string, PeerSource>
}

const keyOf = (address: string, port: number): string => `${address}:${port}`

export class ContentDictionary {
  readonly limits: DictionaryLimits
  private readonly records = new Map<string, FileRecord>()
  /** Distinct peers (address:port) → last heard, for the peer cap. */
  private readonly peers = new Map<string, number>()

  constructor(limits: Partial<DictionaryLimits> = {}) {
    this.limits = { ...DEFAULT_DICTIONARY_LIMITS, ...limits }
  }

  get fileCount(): number {
    return this.records.size
  }

  get peerCount(): number {
    return this.peers.size
  }

  /** Apply one announcement from `address`; returns true if anything visible changed. */
  merge(a: Announcement, address: string, now: number): boolean {
    const key = keyOf(address, a.port)
    if (a.files.length === 0) return this.removePeer(key)
    if (!this.peers.has(key)) {
      const sameAddress = [...this.peers.keys()].filter((k) => k.slice(0, k.lastIndexOf(':')) === address)
      if (sameAddress.length >= this.limits.maxPeersPerAddress) this.evictOldestPeer(sameAddress)
      else if (this.peers.size >= this.limits.maxPeers) this.evictOldestPeer([...this.peers.keys()])
    }
    this.peers.set(key, now)
    let changed = false
    for (const f of a.files) {
      let record = this.records.get(f.id)
      if (!record) {
        if (this.records.size >= this.limits.maxFiles) this.evictOldestFile()
        record = { id: f.id, name: f.name, size: f.size, chunks: f.chunks, peers: new Map() }
        this.records.set(f.id, record)
        changed = true
      }
      if (record.chunks !== f.chunks || record.size !== f.size) continue // contradicts what others said of this id: ignore
      let source = record.peers.get(key)
      if (!source) {
        if (record.peers.size >= this.limits.maxPeersPerFile) evictOldest(record.peers)
        source = { peer: a.peer, address, port: a.port, have: new Bitfield(f.chunks), lastSeen: now }
        record.peers.set(key, source)
        changed = true
      }
      source.lastSeen = now
      source.peer = a.peer
      changed = applyHave(source.have, f.have, f.from) || changed
    }
    return changed
  }

  /** Drop every peer entry not heard from since `now - staleAfterMs`; returns true if any went. */
  expire(now: number, staleAfterMs: number): boolean {
    const cutoff = now - staleAfterMs
    let changed = false
    for (const [id, record] of this.records) {
      for (const [key, source] of record.peers) {
        if (source.lastSeen < cutoff) {
          record.peers.delete(key)
          changed = true
        }
      }
      if (record.peers.size === 0) this.records.delete(id)
    }
    for (const [key, seen] of this.peers) if (seen < cutoff) this.peers.delete(key)
    return changed
  }

  files(): KnownFile[] {
    return [...this.records.values()].map((r) => ({ id: r.id, name: r.name, size: r.size, chunks: r.chunks, peers: [...r.peers.values()] }))
  }

  file(id: string): KnownFile | undefined {
    const r = this.records.get(id)
    return r && { id: r.id, name: r.name, size: r.size, chunks: r.chunks, peers: [...r.peers.values()] }
  }

  /** The file format; `now` and `wallNow` convert our clock's times to wall-clock ISO strings. */
  toJSON(now: number, wallNow = now): DictionarySnapshot {
    const files: DictionarySnapshot['files'] = {}
    for (const r of this.records.values()) {
      files[r.id] = {
        name: r.name, size: r.size, chunks: r.chunks,
        peers: [...r.peers.values()].map((p) => ({
          peer: p.peer, address: p.address, port: p.port, have: p.have.isComplete() ? 'all' : p.have.toBase64(), lastSeen: new Date(wallNow - (now - p.lastSeen)).toISOString(),
        })),
      }
    }
    return { updatedAt: new Date(wallNow).toISOString(), files }
  }

  private removePeer(key: string): boolean {
    let changed = this.peers.delete(key)
    for (const [id, record] of this.records) {
      if (record.peers.delete(key)) changed = true
      if (record.peers.size === 0) this.records.delete(id)
    }
    return changed
  }

  private evictOldestPeer(among: string[]): void {
    let oldest: string | undefined
    let seen = Infinity
    for (const key of among) {
      const t = this.peers.get(key)!
      if (t < seen) { oldest = key; seen = t }
    }
    if (oldest !== undefined) this.removePeer(oldest)
  }

  private evictOldestFile(): void {
    let oldest: string | undefined
    let seen = Infinity
    for (const [id, r] of this.records) {
      const newest = Math.max(0, ...[...r.peers.values()].map((p) => p.lastSeen))
      if (newest < seen) { oldest = id; seen = newest }
    }
    if (oldest !== undefined) this.records.delete(oldest)
  }
}

function evictOldest(peers: Map<string, PeerSource>): void {
  let oldest: string | undefined
  let seen = Infinity
  for (const [key, p] of peers) if (p.lastSeen < seen) { oldest = key; seen = p.lastSeen }
  if (oldest !== undefined) peers.delete(oldest)
}

/** Overwrite bits [from, from + slice.length) of `have` (all of it for "all"); true if any bit changed. */
function applyHave(have: Bitfield, slice: 'all' | Bitfield, from: number): boolean {
  let changed = false
  const count = slice === 'all' ? have.length : Math.min(slice.length, have.length - from)
  for (let i = 0; i < count; i++) {
    const bit = slice === 'all' ? true : slice.get(i)
    if (have.get(from + i) !== bit) {
      have.set(from + i, bit)
      changed = true
    }
  }
  return changed
}

// ---- the dictionary file ----

const snapshotSchema = z.object({
  updatedAt: z.string(),
  files: z.record(z.string().regex(HEX64), z.object({
    name: z.string().refine(isValidName),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    chunks: z.number().int().min(0).max(MAX_ANNOUNCED_CHUNKS),
    peers: z.array(z.object({
      peer: z.string().max(64),
      address: z.string().max(64),
      port: z.number().int().min(1).max(65535),
      have: z.string(),
      lastSeen: z.string(),
    })),
  })),
})

export type DictionarySnapshot = z.infer<typeof snapshotSchema>

/** Bound on the dictionary file read back (V8 strings stop at ~512 MiB). */
const MAX_DICTIONARY_FILE_BYTES = 256 * 1024 * 1024

/** The dictionary file a p2p-listen keeps; a missing file is an empty dictionary. */
export async function readDictionaryFile(path: string): Promise<DictionarySnapshot> {
  let text: string
  try {
    // A FIFO or device at the path must not hang the reader: opened non-blocking, regular files only.
    text = (await readRegularFile(path, { maxBytes: MAX_DICTIONARY_FILE_BYTES, followSymlinks: true })).toString('utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { updatedAt: new Date(0).toISOString(), files: {} }
    throw err
  }
  const parsed = snapshotSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new P2PError('E_BAD_DATAGRAM', `${path} is not a valid content dictionary`)
  return parsed.data
}

export async function writeDictionaryFile(path: string, snapshot: DictionarySnapshot): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(snapshot, null, 1)}\n`)
}
