import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isAbsent } from './safe-fs.js'
import { type EntryFile, isEntryDirName, isScannedFile } from './store-layout.js'

/**
 * The store's two fixed levels, listed with one readdir of the root and one
 * of each entry directory (the announcer scans up to four times a second:
 * a pattern matcher compiled per call cost three times these reads). Links
 * are listed as what they are and never followed, so a link in the store
 * never leads a scan outside it. A directory gone meanwhile lists nothing;
 * a name in it gone meanwhile is left out. An entry directory that cannot be
 * read (a `lost+found` where the store is a filesystem's root) is left out
 * and reported, so one such directory does not hide every other entry; the
 * root's own errors are thrown.
 */

/** A listed name and what it is (a Dirent, or the same from lstat). */
export interface Listed {
  name: string
  isFile(): boolean
  isDirectory(): boolean
}

/**
 * Every regular file a scan reads (store-layout.ts, isScannedFile) in every
 * entry directory; `skip` is asked of each entry directory, in the root's
 * order, and one it says yes to is not read (a scan that keeps what the
 * last one found there: store-scan.ts).
 */
export async function listEntryFiles(
  root: string,
  onUnreadable: (dirName: string, err: unknown) => void = () => undefined,
  readTyped: (dir: string) => Promise<Listed[]> = readTypes,
  skip: (dirName: string) => boolean = () => false,
): Promise<EntryFile[]> {
  const listed: EntryFile[] = []
  for (const dir of await listDir(root, readTyped)) {
    if (!dir.isDirectory() || !isEntryDirName(dir.name)) continue
    if (skip(dir.name)) continue
    let files: Listed[]
    try {
      files = await listDir(join(root, dir.name), readTyped)
    } catch (err) {
      onUnreadable(dir.name, err)
      continue
    }
    for (const file of files)
      if (file.isFile() && isScannedFile(file.name)) listed.push({ dirName: dir.name, file: file.name })
  }
  return listed
}

/** The names in `dir`, whatever they are (none when it is gone). */
export async function listNames(dir: string): Promise<string[]> {
  return (await listDir(dir)).map((d) => d.name)
}

/**
 * The entries of `dir` with their types. Where the filesystem gives no type
 * with a name (XFS without ftype, some network and FUSE filesystems), Node
 * lstats each name and fails the whole listing with ENOENT when one of them
 * goes first (a temporary file renamed): then each name is lstatted here,
 * and one gone is left out, instead of the directory listing as empty.
 */
export async function listDir(
  dir: string,
  readTyped: (dir: string) => Promise<Listed[]> = readTypes,
): Promise<Listed[]> {
  try {
    return await readTyped(dir)
  } catch (err) {
    if (!isAbsent(err)) throw err
    if ((err as NodeJS.ErrnoException).path === dir) return []
    return listOneByOne(dir)
  }
}

function readTypes(dir: string): Promise<Listed[]> {
  return readdir(dir, { withFileTypes: true })
}

async function listOneByOne(dir: string): Promise<Listed[]> {
  const names = await readdir(dir).catch((err: unknown) => {
    if (isAbsent(err)) return []
    throw err
  })
  const listed: Listed[] = []
  for (const name of names) {
    const st = await lstat(join(dir, name)).catch((err: unknown) => {
      if (isAbsent(err)) return undefined
      throw err
    })
    if (st) listed.push({ name, isFile: () => st.isFile(), isDirectory: () => st.isDirectory() })
  }
  return listed
}
