/** "1 chunk", "2 chunks": a count and its noun, which is plural but for one. */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}

/** "1 file", "1 folder", "2 files and 1 folder" (a folder is one item, but not one file); "0 files" for none. */
export function filesAndFolders(files: number, folders: number): string {
  if (folders === 0) return counted(files, 'file')
  return files === 0 ? counted(folders, 'folder') : `${counted(files, 'file')} and ${counted(folders, 'folder')}`
}

/** The first `shown` of `items`, then how many more ("a, b, c and 4 more"; `more`: an unknown number came after). */
export function someOf(items: readonly string[], shown = 3, more = false): string {
  const left = items.length - Math.min(shown, items.length)
  const tail = left > 0 ? ` and ${more ? `at least ${left + 1}` : left} more` : more ? ' and more' : ''
  return items.slice(0, shown).join(', ') + tail
}
