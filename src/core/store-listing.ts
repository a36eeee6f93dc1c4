import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isAbsent } from './safe-fs.js'
import { isEntryDirName, isScannedFile } from './store-layout.js'

/**
 * The store's two fixed levels, listed with one readdir of the root and one
 * of each entry directory (the announcer scans up to four times a second:
 * a pattern matcher compiled per call cost three times these reads). Links
 * are listed as what they are and never followed, so a link in the store
 * never leads a scan outside it. A directory gone meanwhile lists nothing;
 * any other error is thrown.
 */

/** `<dirName>/<file>` of every regular file a scan reads (store-layout.ts, isScannedFile) in every entry directory. */
export async function listEntryFiles(root: string): Promise<string[]> {
  const paths: string[] = []
  for (const dir of await listDir(root)) {
    if (!dir.isDirectory() || !isEntryDirName(dir.name)) continue
    for (const file of await listDir(join(root, dir.name)))
      if (file.isFile() && isScannedFile(file.name)) paths.push(`${dir.name}/${file.name}`)
  }
  return paths
}

/** The names in `dir`, whatever they are (none when it is gone). */
export async function listNames(dir: string): Promise<string[]> {
  return (await listDir(dir)).map((d) => d.name)
}

async function listDir(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if (isAbsent(err)) return []
    throw err
  }
}
