import { setTimeout as sleep } from 'node:timers/promises'
import chalk from 'chalk'
import {
  createDhtSurvey,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type DhtSurvey,
  isId,
  type Logger,
  printable,
  type SurveyedFile,
  type SwarmKeys,
} from '../index.js'
import { SettingError } from './common.js'
import { counted, shortId } from './format.js'
import { dhtThrough } from './serve.js'

/**
 * p2p-listen's DHT side (`--dht --id ID…`): a survey round (core/dht/survey.ts)
 * every ROUND_GAP_MS after the last one ended, each printed as it ends — a
 * `{"ok":true,"dht":[…]}` line with --json, one line per file otherwise. The
 * dictionary file stays the LAN's (p2p-download reads it; DHT peers are
 * looked up by the download itself).
 */

const ROUND_GAP_MS = 10_000
/** At least this per dial: a hole punch is round trips through DHT nodes (as a download's DHT dials). */
const MIN_DIAL_MS = 15_000

/** `--id`: file ids, comma-separated or repeated. */
export function parseIds(raw: unknown): string[] {
  const items = (Array.isArray(raw) ? raw.map(String) : [String(raw)])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
  for (const id of items)
    if (!isId(id))
      throw new SettingError(`not a file id (64 hex characters): ${JSON.stringify(String(id).slice(0, 80))}`)
  return [...new Set(items)]
}

export interface ListenDhtSettings {
  ids: string[] | undefined
  bootstrap: string[] | undefined
  dhtHost: string
  dhtPort: number
}

/** Joins the DHT (its failures are the command's), then runs survey rounds until `signal` aborts: the returned promise. */
export async function surveyDht(
  settings: ListenDhtSettings,
  swarm: SwarmKeys | undefined,
  io: { json: boolean; log: Logger; out: (line: string) => void; signal: AbortSignal },
): Promise<{ done: Promise<void> }> {
  const survey = createDhtSurvey(
    {
      ids: settings.ids ?? [],
      swarm,
      dht: { bootstrap: settings.bootstrap, host: settings.dhtHost, port: settings.dhtPort },
      connectTimeoutMs: Math.max(DEFAULT_HANDSHAKE_TIMEOUT_MS, MIN_DIAL_MS),
    },
    { log: io.log },
  )
  // Ctrl-C while the node bootstraps (seconds, longer when no bootstrap node answers) ends it at once.
  let joined: boolean
  try {
    joined = await survey.start(io.signal)
  } catch (err) {
    await survey.stop()
    throw err
  }
  if (!joined) {
    await survey.stop()
    return { done: Promise.resolve() }
  }
  if (!io.json)
    io.out(chalk.dim(`DHT: looking up ${counted(survey.ids.length, 'file')} through ${dhtThrough(settings.bootstrap)}`))
  return { done: rounds(survey, io) }
}

async function rounds(
  survey: DhtSurvey,
  io: { json: boolean; out: (line: string) => void; signal: AbortSignal },
): Promise<void> {
  // Ctrl-C ends a round at once (its dials fail with the node), not after its slowest dial.
  const stop = (): void => void survey.stop()
  io.signal.addEventListener('abort', stop, { once: true })
  try {
    while (!io.signal.aborted) {
      const files = await survey.round()
      if (io.signal.aborted) break
      if (io.json) process.stdout.write(`${JSON.stringify({ ok: true, dht: files })}\n`)
      else for (const f of files) io.out(describe(f))
      await sleep(ROUND_GAP_MS, undefined, { signal: io.signal }).catch(() => undefined) // ends early on Ctrl-C
    }
  } finally {
    io.signal.removeEventListener('abort', stop)
    await survey.stop()
  }
}

function describe(f: SurveyedFile): string {
  const peers = f.peers.map((p) =>
    p.reached
      ? `${p.peerId.slice(0, 7)} ${chalk.green(p.path ?? 'reached')}`
      : `${p.peerId.slice(0, 7)} ${chalk.yellow(`not reached (${printable(String(p.code), 40)})`)}`,
  )
  // Each untrusted piece made printable before it is coloured (printable would show the colours' escapes).
  return `DHT ${shortId(f.id)}…  ${counted(f.peers.length, 'peer')} from ${counted(f.replies, 'node answer')}${peers.length ? `: ${peers.join(', ')}` : ''}`
}
