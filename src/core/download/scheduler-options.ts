import {
  DEFAULT_MAX_STRIKES,
  DEFAULT_PROBE_WINDOW,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WINDOW,
  FIRST_DELIVERY_DEADLINE_MS,
} from '../constants.js'
import { LINE_PATIENCE_MS, PEER_PATIENCE_MS } from './peer-judge.js'
import type { PaceLimits } from './peer-pace.js'

/** What a scheduler (scheduler.ts) may be given; each one left out takes its default (`schedulerSettings`). */
export interface SchedulerOptions extends Partial<PaceLimits> {
  maxStrikes?: number
  endgameRequests?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  now?: () => number
  /** Where ties in rarity start once another download is seen (chunk-choice.ts): a number in [0, 1). */
  random?: () => number
  /** A peer that delivers nothing for this long while its requests fail or are told "not now" is written off. */
  patienceMs?: number
  /** …unless its upload-slot line keeps moving for us: then written off only after this long (peer-judge.ts). */
  linePatienceMs?: number
  /** Our own peer ID, as our announcements carry it: what we ask of a seeder is split with other downloads by it (chunk-share.ts). */
  selfPeerId?: string
}

/** Every option but `selfPeerId` (which has no default), set. */
export type SchedulerSettings = Required<Omit<SchedulerOptions, 'selfPeerId'>>

/** `options` over the defaults. */
export function schedulerSettings(options: SchedulerOptions): SchedulerSettings {
  return {
    maxStrikes: DEFAULT_MAX_STRIKES,
    endgameRequests: 2,
    backoffBaseMs: 500,
    backoffMaxMs: 10_000,
    window: DEFAULT_WINDOW,
    probeWindow: DEFAULT_PROBE_WINDOW,
    firstDeadlineMs: FIRST_DELIVERY_DEADLINE_MS,
    deadlineFloorMs: 1000,
    maxDeadlineMs: DEFAULT_REQUEST_TIMEOUT_MS,
    now: Date.now,
    random: Math.random,
    patienceMs: PEER_PATIENCE_MS,
    linePatienceMs: LINE_PATIENCE_MS,
    ...options,
  }
}
