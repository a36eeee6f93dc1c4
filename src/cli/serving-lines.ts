import chalk from 'chalk'
import { counted, formatBytes } from './format.js'

/** How often a seeder says what it served, when it served anything since it last said. */
export const SERVED_LINE_EVERY_MS = 10_000

/** What the line reads of a server (ChunkServer's `stats`). */
export interface ServedCounts {
  readonly stats: { readonly bytesServed: number; readonly chunksServed: number; readonly corruptChunks: number }
}

/**
 * While a command serves (p2p-serve, p2p share, p2p-download --seed): a line
 * every SERVED_LINE_EVERY_MS in which chunks left, what left in it and in
 * all, so that a seeder is not silent while peers download from it (a quiet
 * interval prints nothing), and requests it refused since for chunks found damaged. Lines go to `out` (people's output: none with
 * --json). Returns the stop.
 */
export function sayWhatIsServed(
  server: ServedCounts,
  out: (line: string) => void,
  every = SERVED_LINE_EVERY_MS,
): () => void {
  let bytes = server.stats.bytesServed
  let chunks = server.stats.chunksServed
  let damaged = server.stats.corruptChunks
  const timer = setInterval(() => {
    const { bytesServed, chunksServed, corruptChunks } = server.stats
    // Said where the user looks, not only in the log: a file shared and then edited (a download's file is a link
    // to its store's `data`) is refused to every peer, and they were told only "not found" (a UX audit).
    // Counted as refusals (a chunk asked again is refused again), not as chunks.
    if (corruptChunks > damaged)
      out(
        chalk.yellow(
          `  refused ${counted(corruptChunks - damaged, 'request')} for chunks on disk that no longer match the manifest (a shared file edited or damaged?): the log names them, and p2p-split --force FILE shares the file as it is now`,
        ),
      )
    damaged = corruptChunks
    if (chunksServed === chunks) return
    out(
      chalk.dim(
        `  served ${formatBytes(bytesServed - bytes)} (${counted(chunksServed - chunks, 'chunk')}) in the last ${every / 1000} s; ${formatBytes(bytesServed)} in all`,
      ),
    )
    bytes = bytesServed
    chunks = chunksServed
  }, every)
  timer.unref()
  return () => clearInterval(timer)
}
