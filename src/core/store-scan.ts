import { Bitfield } from './bitfield.js'
import { type ItemManifest, planOf } from './item.js'
import { readPackedHave } from './packed.js'
import { type EntryFile, groupByEntry, isPreferredCopy } from './store-layout.js'
import { listEntryFiles } from './store-listing.js'

/** An entry of the store, as a scan finds it. */
export interface StoreEntry {
  readonly id: string
  readonly name: string
  /** Absolute path of the entry's directory. */
  readonly dir: string
  /** A file's (version 1) or a folder's (version 2: item.ts). */
  readonly manifest: ItemManifest
  readonly manifestBytes: Buffer
  /** Chunks whose files exist or that `data.have` lists (their hash is checked before use). */
  readonly have: Bitfield
}

type Loaded = { id: string; manifest: ItemManifest; bytes: Buffer }

interface Grouped {
  readonly manifest: boolean
  readonly chunks: readonly number[]
  readonly packed: boolean
}

/**
 * What one scan of the store (store.ts) found in one entry directory, kept
 * until the next: a scan told that the directory had no event since
 * (store-changes.ts) takes it as it was instead of reading it again. The
 * values are never changed once found (a have-set is added into a fresh
 * one), so the next scan may hand them out again.
 */
export interface ScannedDir {
  /** The names the scan reads (store-layout.ts, isScannedFile). */
  readonly files: string[]
  /** What those names hold: a manifest, chunk files (by index), a `data.have`. */
  readonly grouped: Grouped
  /** Its manifest as read (undefined: absent or invalid), once read. */
  manifest?: { loaded: Loaded | undefined }
  /** Its `data.have` as read (undefined: none that fits), once read. */
  packed?: { have: Bitfield | undefined }
}

/** What a scan reads the store through (store.ts). */
export interface ScanSource {
  readonly root: string
  entryDir(dirName: string): string
  /** The entry's manifest, parsed (cached by the store), or undefined when it has none that is valid. */
  manifestIn(dirName: string): Promise<Loaded | undefined>
  onUnreadable(dirName: string, err: unknown): void
}

/**
 * Every complete-or-partial entry (a directory holding a valid manifest),
 * with its have-set, and what was found in each entry directory. An entry
 * directory for which `kept` gives the last scan's findings (it had no
 * event since: store-changes.ts) is taken as found then, unread: a scan of
 * 10,000 entries for one that changed cost the announcer ~0.85 CPU-s
 * (docs/benchmarks.md).
 */
export async function scanEntries(
  source: ScanSource,
  kept: (dirName: string) => ScannedDir | undefined,
): Promise<{ entries: StoreEntry[]; scanned: Map<string, ScannedDir>; manifestDirs: string[] }> {
  // A directory taken as found is not listed again and its grouping is reused: at 10,000 entries, listing each
  // one's names again and grouping them cost a scan for a change more than the rest of it (docs/benchmarks.md).
  const order: string[] = []
  const reused = new Map<string, ScannedDir>()
  const files = await listEntryFiles(source.root, source.onUnreadable, undefined, (dirName) => {
    order.push(dirName)
    const before = kept(dirName)
    if (before !== undefined) reused.set(dirName, before)
    return before !== undefined
  })
  const fresh = namesByDir(files)
  const listing = groupByEntry(files)
  const withManifest = new Set(listing.manifestDirs)
  const scanned = new Map<string, ScannedDir>()
  for (const dirName of order) {
    const before = reused.get(dirName)
    const names = before?.files ?? fresh.get(dirName)
    if (names === undefined) continue // unreadable, gone, or holding nothing a scan reads
    const grouped = before?.grouped ?? {
      manifest: withManifest.has(dirName),
      chunks: listing.chunksByDir.get(dirName) ?? [],
      packed: listing.packedDirs.has(dirName),
    }
    scanned.set(dirName, { files: names, grouped })
  }
  const manifestDirs = order.filter((dirName) => scanned.get(dirName)?.grouped.manifest === true)
  // Two directories may hold the same id (a copy made by hand): one is the entry (isPreferredCopy).
  const chosen = new Map<string, Loaded & { dirName: string }>()
  for (const dirName of manifestDirs) {
    const before = reused.get(dirName)?.manifest
    const loaded = before ? before.loaded : await source.manifestIn(dirName)
    scanned.get(dirName)!.manifest = { loaded }
    if (!loaded) continue
    const current = chosen.get(loaded.id)
    if (current === undefined || isPreferredCopy(dirName, current.dirName, loaded.manifest.name, loaded.id))
      chosen.set(loaded.id, { dirName, ...loaded })
  }
  const entries: StoreEntry[] = []
  for (const { dirName, id, manifest, bytes } of chosen.values()) {
    const found = scanned.get(dirName)!
    const have = new Bitfield(planOf(manifest).chunkCount)
    for (const i of found.grouped.chunks) if (i < have.length) have.set(i)
    const before = reused.get(dirName)?.packed
    const dir = source.entryDir(dirName)
    let packed: Bitfield | undefined
    if (found.grouped.packed) packed = before ? before.have : await readPackedHave(dir, have.length)
    found.packed = { have: packed }
    if (packed) have.add(packed)
    entries.push({ id, name: manifest.name, dir, manifest, manifestBytes: bytes, have })
  }
  return { entries, scanned, manifestDirs }
}

/** Each listed entry directory with the names listed in it. */
function namesByDir(files: readonly EntryFile[]): Map<string, string[]> {
  const dirs = new Map<string, string[]>()
  for (const { dirName, file } of files) {
    let dir = dirs.get(dirName)
    if (dir === undefined) {
      dir = []
      dirs.set(dirName, dir)
    }
    dir.push(file)
  }
  return dirs
}
