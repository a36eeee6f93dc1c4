import chalk from 'chalk'
import { counted, formatBytes } from './format.js'

/** How often a seeder says what it served, when it served anything since it last said. */
export const SERVED_LINE_EVERY_MS = 10_000

/** What the line reads of a server (ChunkServer's `stats`). */
export interface ServedCounts {
  readonly stats: { readonly bytesServed: number; readonly chunksServed: number }
}

/**
 * While a command serves (p2p-serve, p2p share, p2p-download --seed): a line
 * every SERVED_LINE_EVERY_MS in which chunks left, what left in it and in
 * all, so that a seeder is not silent while peers download from it (a quiet
 * interval prints nothing). Lines go to `out` (people's output: none with
 * --json). Returns the stop.
 */
export function sayWhatIsServed(
  server: ServedCounts,
  out: (line: string) => void,
  every = SERVED_LINE_EVERY_MS,
): () => void {
  let bytes = server.stats.bytesServed
  let chunks = server.stats.chunksServed
  const timer = setInterval(() => {
    const { bytesServed, chunksServed } = server.stats
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
