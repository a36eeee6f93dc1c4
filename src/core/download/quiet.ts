/**
 * Deciding on answers that arrive one by one: wait until the set of ids of
 * interest has stopped growing for a quiet interval. Used to tell whether a
 * name is ambiguous (several files of that name) before a download by name
 * takes its final name (cli/by-name.ts fetches the first file meanwhile).
 */

/**
 * How long no new file of the asked-for name must have appeared before the
 * answer counts as complete, counted from the first file of that name seen
 * and again from each new one. An announcer answers a query at once, from
 * its last scan, within its rate limits (a few answers a second per
 * source); a store announced in several datagrams has its bursts for
 * store changes at most one a second. 1 s covers that, 200 ms a scan and the send.
 */
export const NAME_QUIET_MS = 1200

/** What the wait needs from a directory of peers: a wake-up when its picture may have changed. */
export interface ChangeFeed {
  /** Resolves on the next change, after `ms`, or when `signal` aborts. */
  waitForChange(ms: number, signal?: AbortSignal): Promise<void>
}

export interface QuietOptions {
  /** Wanted quiet, ms without a new id. */
  quietMs: number
  /** When answers could start coming (the query): quiet never counts from earlier. */
  since: number
  /** Give up waiting then (same clock), whatever has been seen. */
  deadline: number
  signal?: AbortSignal
  /** The clock of `since` and `deadline` (default performance.now). */
  now?: () => number
}

/**
 * Resolves once `ids()` has shown no id it had not shown before for
 * `quietMs` (counted from the moment each new id is first seen, never from
 * before `since`), and at `deadline` at the latest. Until a first id shows up it
 * waits for the deadline. Other changes (other files, a peer refreshing or
 * leaving) neither end nor extend the wait. Rejects if `signal` aborts.
 */
export async function waitForQuiet(feed: ChangeFeed, ids: () => Iterable<string>, o: QuietOptions): Promise<void> {
  const now = o.now ?? (() => performance.now())
  const seen = new Set<string>()
  let quietFrom = o.since
  for (;;) {
    o.signal?.throwIfAborted()
    for (const id of ids()) {
      if (seen.has(id)) continue
      seen.add(id)
      quietFrom = Math.max(quietFrom, now())
    }
    const until = seen.size === 0 ? o.deadline : Math.min(o.deadline, quietFrom + o.quietMs)
    const left = until - now()
    if (left <= 0) return
    await feed.waitForChange(left, o.signal)
  }
}
