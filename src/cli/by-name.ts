import { type Logger, NAME_QUIET_MS, P2PError, type PeerDirectory } from '../index.js'
import { type PickContext, settleAnswers, targetAmong } from './prompt.js'

/** What a download started before its name is decided runs under. */
export interface NameGate {
  /** Aborts when another file of the name answers in time (or the command stops). */
  signal: AbortSignal
  /** The download's last step before its final name: resolves once the name is decided for this file, else throws. */
  decided: () => Promise<void>
}

/**
 * `p2p-download NAME` on the LAN: the first file of that name to answer is
 * fetched at once, while the name's quiet interval (NAME_QUIET_MS, counted
 * as pickTarget counts it) still runs, instead of after it: on a LAN where
 * the name is unique, the wait cost every download by name about 1.2 s
 * before its first byte (docs/benchmarks.md). The decision is the one
 * pickTarget makes, taken at the same moment:
 * - nothing takes the final name before the interval has passed with no
 *   other file of the name (`decided` is the download's last step);
 * - another file of the name answering within it stops the download (its
 *   chunks stay in the store, resumable) and the name goes to `targetAmong`
 *   as it would have before any byte was fetched: E_AMBIGUOUS, or the prompt
 *   on a terminal, and then the file picked is fetched;
 * - a download that fails before the interval is over reports its own error
 *   only once the name has turned out unique (else the ambiguity).
 * Several files answering before the first byte, or none, go to pickTarget's
 * path as before.
 */
export async function fetchByName<T>(
  ctx: PickContext & { log: Logger },
  directory: PeerDirectory,
  name: string,
  interactive: boolean,
  fetch: (id: string, gate?: NameGate) => Promise<T>,
): Promise<T> {
  const deadline = performance.now() + ctx.settings.wait * 1000
  const ids = (): string[] => directory.named(name).map((f) => f.id)
  await settleAnswers(ctx, directory, ids, 0, deadline) // the first answer, or --wait over
  const first = ids()
  if (first.length !== 1) {
    await settleAnswers(ctx, directory, ids, NAME_QUIET_MS, deadline)
    return fetch(await targetAmong(ctx, directory, name, interactive))
  }
  const id = first[0]!
  const unique = settleAnswers(ctx, directory, ids, NAME_QUIET_MS, deadline).then(
    () => ids().every((other) => other === id),
    () => true, // stopped (Ctrl-C): nothing to decide; the download says why it stopped
  )
  const stop = new AbortController()
  void unique.then((only) => {
    if (!only) stop.abort(new P2PError('E_INTERRUPTED', `another file named "${name}" answered`))
  })
  const gate: NameGate = {
    signal: AbortSignal.any([ctx.signal, stop.signal]),
    decided: async () => {
      if (!(await unique)) throw new P2PError('E_INTERRUPTED', `another file named "${name}" answered`)
    },
  }
  try {
    return await fetch(id, gate)
  } catch (err) {
    if (await unique) throw err
    ctx.log.info({ name, started: id, files: ids().length }, 'another file of the name answered: download stopped')
    return fetch(await targetAmong(ctx, directory, name, interactive))
  }
}
