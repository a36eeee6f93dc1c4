import { writeFileSync } from 'node:fs'

/**
 * Preloaded into a command under test (`--import`): on exit, writes the
 * process's peak resident set size in bytes (getrusage: every thread, the
 * whole run) to the file named by P2P_TEST_PEAK_RSS_FILE.
 */
const file = process.env.P2P_TEST_PEAK_RSS_FILE
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)))
