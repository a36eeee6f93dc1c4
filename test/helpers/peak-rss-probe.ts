import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const PRELOAD = pathToFileURL(join(import.meta.dirname, 'peak-rss.js')).href

/**
 * The environment that makes a command under test write its peak RSS
 * (peak-rss.ts) into `file`, and the reading of it afterwards (NaN when the
 * command never exited normally).
 */
export function peakRssProbe(file: string): { env: NodeJS.ProcessEnv; read(): Promise<number> } {
  return {
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PRELOAD}`.trim(),
      P2P_TEST_PEAK_RSS_FILE: file,
    },
    read: async () => Number(await readFile(file, 'utf8').catch(() => 'NaN')),
  }
}
