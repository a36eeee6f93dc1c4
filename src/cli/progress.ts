import { createRequire } from 'node:module'
import type CliProgress from 'cli-progress'
import { formatBytes, formatRate } from './format.js'

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void
  stop(): void
}

/**
 * Whether `stream` is a terminal that can be drawn on in place: not one that cannot move its cursor (TERM=dumb:
 * Emacs' shell, some CI logs), which gets plain lines as a pipe does.
 */
export function redraws(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && process.env.TERM !== 'dumb'
}

/**
 * A progress bar on a TTY (stderr), plain lines every few seconds otherwise
 * (the same fields: share, bytes, the recent rate, the time left), nothing
 * with --json.
 */
export function createProgress(
  label: string,
  total: number,
  /** `initial`: the format's own fields for the first frame, before the first update (else drawn as `{name}`). */
  options: { json: boolean; intervalMs?: number; format?: string; initial?: Record<string, string | number> },
): Progress {
  if (options.json) return { update: () => undefined, stop: () => undefined }
  const rate = recentRate()
  if (redraws(process.stderr)) {
    // Loaded only for a bar: without a terminal (a script, --json) it would only take memory (~1 MB, issue 19).
    const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: options.format ?? `${label} [{bar}] {percentage}% | {doneText} / {totalText} | {rate} | ETA {etaText}`,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(Math.max(total, 1), 0, {
      doneText: formatBytes(0),
      totalText: formatBytes(total),
      rate: formatRate(0, 0),
      etaText: '–',
      ...options.initial,
    })
    return {
      update: (done, extra) => {
        bar.update(done, {
          doneText: formatBytes(done),
          totalText: formatBytes(total),
          rate: formatRate(...rate.window(done, performance.now())),
          // From what flows now: nothing yet tells nothing of the time left (cli-progress's own ETA read 0 s at 0 %),
          // and bytes a resumed download had already are no speed.
          etaText: etaFrom(total - done, rate.bytesPerSecond()),
          ...extra,
        })
      },
      stop: () => bar.stop(),
    }
  }
  const every = options.intervalMs ?? 3000
  let last = performance.now()
  return {
    update: (done, extra) => {
      const now = performance.now()
      const shown = formatRate(...rate.window(done, now))
      if (now - last < every) return
      last = now
      const pct = total > 0 ? ((done / total) * 100).toFixed(1) : '100.0'
      const more = extra
        ? ` ${Object.entries(extra)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
      const eta = etaFrom(total - done, rate.bytesPerSecond())
      process.stderr.write(
        `${label}: ${pct}% ${formatBytes(done)} / ${formatBytes(total)} ${shown}, ETA ${eta}${more}\n`,
      )
    },
    stop: () => undefined,
  }
}

/** "42s", "3m05s", "1h02m": the bar's time left. */
function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** The rate shown: over the last few seconds, so that bytes a resumed download had already and a stall do not count. */
const RATE_WINDOW_MS = 5000
const RATE_SAMPLE_EVERY_MS = 250

/**
 * The bytes and seconds of about the last RATE_WINDOW_MS (`window`, given each new count), from samples at least
 * RATE_SAMPLE_EVERY_MS apart (at most ~21 kept); `bytesPerSecond` of the last window, undefined before one.
 */
export function recentRate(): {
  window(done: number, now: number): [number, number]
  bytesPerSecond(): number | undefined
} {
  const samples: Array<{ at: number; done: number }> = []
  let last: [number, number] = [0, 0]
  return {
    window: (done, now) => {
      const newest = samples.at(-1)
      if (newest === undefined || now - newest.at >= RATE_SAMPLE_EVERY_MS) samples.push({ at: now, done })
      while (samples.length > 2 && now - samples[1]!.at >= RATE_WINDOW_MS) samples.shift()
      const first = samples[0]!
      last = [done - first.done, (now - first.at) / 1000]
      return last
    },
    bytesPerSecond: () => (last[1] > 0 ? last[0] / last[1] : undefined),
  }
}

/** The time left for `left` bytes at `bytesPerSecond`; "–" when nothing flows. */
function etaFrom(left: number, bytesPerSecond: number | undefined): string {
  return bytesPerSecond ? formatEta(left / bytesPerSecond) : '–'
}
