import { type FSWatcher, watch } from 'node:fs'

/**
 * A set of directory watches, each non-recursive: one inotify watch per
 * directory, one callback per event with the name that changed. Chunk-store
 * watchers (the server's catalog, the announcer) watch the store root and
 * each entry directory this way and filter by name. Node 20's recursive
 * watch on Linux is no substitute: it adds a watch per file, and it lists a
 * directory again (readdirSync) on every event in it, so a download writing
 * its `data` file cost the announcer beside it a directory listing per write
 * (docs/benchmarks.md, "Measurements behind the code").
 */
export class DirectoryWatches {
  private readonly watchers = new Map<string, FSWatcher>()
  private closed = false

  /** `onLost`: a watch broke or its directory went away; it is already forgotten. */
  constructor(private readonly onLost: (dir: string) => void) {}

  has(dir: string): boolean {
    return this.watchers.has(dir)
  }

  dirs(): IterableIterator<string> {
    return this.watchers.keys()
  }

  /** Watch `dir` unless it is already; throws when the system will not (inotify limits, another filesystem). */
  watch(dir: string, onEvent: (file: string | null) => void): void {
    if (this.closed || this.watchers.has(dir)) return
    const w = watch(dir, { persistent: false }, (_event, file) => onEvent(typeof file === 'string' ? file : null))
    w.on('error', () => {
      w.close()
      if (this.watchers.get(dir) !== w) return
      this.watchers.delete(dir)
      this.onLost(dir)
    })
    this.watchers.set(dir, w)
  }

  unwatch(dir: string): void {
    this.watchers.get(dir)?.close()
    this.watchers.delete(dir)
  }

  close(): void {
    this.closed = true
    for (const w of this.watchers.values()) w.close()
    this.watchers.clear()
  }
}
