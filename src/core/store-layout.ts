import { CHUNK_INDEX_DIGITS, CHUNK_SUFFIX, MANIFEST_FILE, STORE_PRIVATE_DIR, TEMP_MARKER } from './constants.js'
import { isValidName } from './names.js'
import { PACKED_DATA_FILE, PACKED_HAVE_FILE, PACKED_VOUCH_FILE } from './packed.js'

/**
 * The chunk store's layout, as names only (pure: the reading and writing is store.ts's):
 *
 *   chunks/
 *     .p2p/peer-id            this store's random, stable peer id
 *     <name>/manifest.json    canonical manifest; its SHA-256 is the file's id
 *     <name>/000000.chunk     chunk 0, 000001.chunk, … (index zero-padded to 6 digits)
 *     <name>/data, data.have  or: the chunks packed in one file (what downloads write; packed.ts)
 *     <name>/data.vouch       while a download writes `data` (writer-vouch.ts)
 *
 * An entry's directory is the file's name; when that is taken by a different
 * id (same name, other content), the id itself.
 */

export function chunkFileName(index: number): string {
  return `${String(index).padStart(CHUNK_INDEX_DIGITS, '0')}${CHUNK_SUFFIX}`
}

const CHUNK_FILE = /^(\d{6,})\.chunk$/

/** Whether this file of an entry directory is a chunk file (`000000.chunk`, …). */
export function isChunkFile(file: string): boolean {
  return CHUNK_FILE.test(file)
}

/** Whether a scan reads this file of an entry directory: its manifest, a chunk file, its `data.have`. */
export function isScannedFile(file: string): boolean {
  return file === MANIFEST_FILE || file === PACKED_HAVE_FILE || CHUNK_FILE.test(file)
}

/** A scan's listing sorted by entry directory. */
export interface EntryListing {
  /** The directories holding a manifest, in the listing's order. */
  manifestDirs: string[]
  /** Each directory's chunk files, by index. */
  chunksByDir: Map<string, number[]>
  /** The directories holding a `data.have`. */
  packedDirs: Set<string>
}

/** A file a scan listed: its entry directory's name (in the store's root) and its own name. */
export interface EntryFile {
  dirName: string
  file: string
}

/** The files a scan listed, by entry directory; any other file is left out. */
export function groupByEntry(files: readonly EntryFile[]): EntryListing {
  const chunksByDir = new Map<string, number[]>()
  const manifestDirs: string[] = []
  const packedDirs = new Set<string>()
  for (const { dirName, file } of files) {
    if (file === MANIFEST_FILE) {
      manifestDirs.push(dirName)
      continue
    }
    if (file === PACKED_HAVE_FILE) {
      packedDirs.add(dirName)
      continue
    }
    const m = CHUNK_FILE.exec(file)
    if (!m) continue
    let list = chunksByDir.get(dirName)
    if (!list) {
      list = []
      chunksByDir.set(dirName, list)
    }
    list.push(Number(m[1]))
  }
  return { manifestDirs, chunksByDir, packedDirs }
}

/**
 * Whether a directory listed in the store's root may be an entry (what holds
 * a manifest decides the rest): anything but `.p2p`. One test for the scan,
 * the server's catalog and the announcer's watches, so none skips an entry
 * another lists (a name holding `.tmp-` is a valid name).
 */
export function isEntryDirName(name: string): boolean {
  return name !== STORE_PRIVATE_DIR
}

/**
 * The directory names an entry with this name and id may take, first choice
 * first: the name itself (when valid), the id; and should that be taken too —
 * a file may be *named* like another's id — `<id>.2`, `<id>.3`, … `<id>.9`.
 */
export function entryDirCandidates(name: string, id: string): string[] {
  return [...(isValidName(name) ? [name] : []), id, ...Array.from({ length: 8 }, (_, n) => `${id}.${n + 2}`)]
}

/** Whether a directory may hold this file and still take a new entry: a chunk file, packed data or a temporary file. */
export function isChunkDataFile(file: string): boolean {
  return (
    CHUNK_FILE.test(file) ||
    file === PACKED_DATA_FILE ||
    file === PACKED_HAVE_FILE ||
    file === PACKED_VOUCH_FILE ||
    file.includes(TEMP_MARKER)
  )
}

/**
 * Of two directories holding the same entry (one copied by hand), whether `a` is the one to use: the
 * one a download of the entry writes into (the first of entryDirCandidates: dirNameFor tries them in
 * order), then the first by name. Nothing but names decides, so the server's catalog, which lists no
 * chunks, chooses as a scan does, and the choice does not move while a download fills one of them.
 */
export function isPreferredCopy(a: string, b: string, name: string, id: string): boolean {
  const candidates = entryDirCandidates(name, id)
  const rank = (dirName: string): number => {
    const at = candidates.indexOf(dirName)
    return at < 0 ? candidates.length : at
  }
  const ra = rank(a)
  const rb = rank(b)
  return ra !== rb ? ra < rb : a < b
}
