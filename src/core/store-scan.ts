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
  const files = await listEntryFiles(source.root, source.onUnreadable, undefined, (dirName) => kept(dirName)?.files)
  const scanned = scannedDirs(files)
  const { manifestDirs, chunksByDir, packedDirs } = groupByEntry(files)
  // Two directories may hold the same id (a copy made by hand): one is the entry (isPreferredCopy).
  const chosen = new Map<string, Loaded & { dirName: string }>()
  for (const dirName of manifestDirs) {
    const before = kept(dirName)?.manifest
    const loaded = before ? before.loaded : await source.manifestIn(dirName)
    scanned.get(dirName)!.manifest = { loaded }
    if (!loaded) continue
    const current = chosen.get(loaded.id)
    if (current === undefined || isPreferredCopy(dirName, current.dirName, loaded.manifest.name, loaded.id))
      chosen.set(loaded.id, { dirName, ...loaded })
  }
  const entries: StoreEntry[] = []
  for (const { dirName, id, manifest, bytes } of chosen.values()) {
    const have = new Bitfield(planOf(manifest).chunkCount)
    for (const i of chunksByDir.get(dirName) ?? []) if (i < have.length) have.set(i)
    const before = kept(dirName)?.packed
    const dir = source.entryDir(dirName)
    const packed = !packedDirs.has(dirName) ? undefined : before ? before.have : await readPackedHave(dir, have.length)
    scanned.get(dirName)!.packed = { have: packed }
    if (packed) have.add(packed)
    entries.push({ id, name: manifest.name, dir, manifest, manifestBytes: bytes, have })
  }
  return { entries, scanned, manifestDirs }
}

/** Each listed entry directory with the names listed in it. */
function scannedDirs(files: readonly EntryFile[]): Map<string, ScannedDir> {
  const dirs = new Map<string, ScannedDir>()
  for (const { dirName, file } of files) {
    let dir = dirs.get(dirName)
    if (dir === undefined) {
      dir = { files: [] }
      dirs.set(dirName, dir)
    }
    dir.files.push(file)
  }
  return dirs
}
