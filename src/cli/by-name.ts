import { type Logger, NAME_QUIET_MS, P2PError, type PeerDirectory } from '../index.js'
import { nameAnswers, type PickContext, settleAnswers, targetAmong } from './prompt.js'

/** What a download started before its name is decided runs under. */
export interface NameGate {
  /** Aborts when another file of the name answers in time (or the command stops). */
  signal: AbortSignal
  /** Awaited before anything is made in the downloads directory (`nameDecided`): resolves once the name is decided for this file, else throws. */
  decided: () => Promise<void>
}

/**
 * `p2p-download NAME` on the LAN: the first file of that name to answer is
 * fetched at once, while the name's quiet interval (NAME_QUIET_MS, counted
 * as pickTarget counts it) still runs, instead of after it: on a LAN where
 * the name is unique, the wait cost every download by name about 1.2 s
 * before its first byte (docs/benchmarks.md). The decision is the one
 * pickTarget makes, taken at the same moment:
 * - nothing is made in the downloads directory (a file's `.part`, a
 *   folder's temporary tree, the final name) before the interval has
 *   passed with no other file of the name (`decided`, awaited by the
 *   download: a file's once its chunks are in, a folder's before its tree,
 *   its chunks fetched meanwhile);
 * - another file of the name answering within it stops the download at once
 *   (its chunks stay in the store, resumable), and once the name is quiet it
 *   goes to `targetAmong` as it would have before any byte was fetched:
 *   E_AMBIGUOUS, or the prompt on a terminal, and then the file picked is
 *   fetched;
 * - every file that answered counts, its peers gone or not (a goodbye may
 *   be a stranger's forgery from the seeder's address: `nameAnswers`): the
 *   first file's peers leaving does not stop its download (it waits for a
 *   peer as any download does, up to --wait, then E_NO_PEER), and another
 *   file that answered and left again still makes the name ambiguous, so a
 *   forged goodbye never hands the name to one file alone;
 * - Ctrl-C within the interval decides nothing: the download stops, and
 *   nothing takes the final name;
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
  // Every file that answered counts, listed still or not (a goodbye may be a stranger's forgery: nameAnswers).
  const answers = nameAnswers(directory, name)
  const ids = answers.ids
  await settleAnswers(ctx, directory, ids, 0, deadline) // the first answer, or --wait over
  const first = ids()
  if (first.length !== 1) {
    await settleAnswers(ctx, directory, ids, NAME_QUIET_MS, deadline)
    return fetch(await targetAmong(ctx, directory, name, interactive, answers.files()))
  }
  const id = first[0]!
  const others = (): string[] => ids().filter((other) => other !== id)
  // The decision, as pickTarget takes it: the name is this file's if no other file answered by the time it is
  // quiet. Its own peers may have left meanwhile: that is for its download to wait out, not a reason to stop it.
  const decision: Promise<'only' | 'not only' | 'stopped'> = settleAnswers(
    ctx,
    directory,
    ids,
    NAME_QUIET_MS,
    deadline,
  ).then(
    () => (others().length === 0 ? 'only' : 'not only'),
    () => 'stopped', // Ctrl-C: nothing is decided, and nothing may take the final name
  )
  const stop = new AbortController()
  const stopped = (): P2PError => new P2PError('E_INTERRUPTED', `another file or folder named "${name}" answered`)
  // Another file of the name stops the fetch the moment it answers (what a stranger's file puts in the store
  // ends there); the decision itself still waits for quiet, as before.
  const watching = new AbortController()
  void settleAnswers({ ...ctx, signal: AbortSignal.any([ctx.signal, watching.signal]) }, directory, others, 0, deadline)
    .then(() => {
      if (others().length > 0) stop.abort(stopped())
    })
    .catch(() => undefined)
  void decision.then((verdict) => {
    watching.abort()
    if (verdict === 'not only') stop.abort(stopped())
    else if (verdict === 'only') ctx.log.info({ name, id }, 'name decided')
  })
  const gate: NameGate = {
    signal: AbortSignal.any([ctx.signal, stop.signal]),
    decided: async () => {
      const verdict = await decision
      if (verdict === 'stopped') throw ctx.signal.reason ?? new P2PError('E_INTERRUPTED', 'stopped')
      if (verdict === 'not only') throw stopped()
    },
  }
  try {
    const result = await fetch(id, gate)
    if ((await decision) !== 'only')
      throw new P2PError('E_INTERNAL', `the download of "${name}" ended before the name was decided`)
    return result
  } catch (err) {
    const verdict = await decision
    if (verdict === 'stopped') throw ctx.signal.reason ?? err // Ctrl-C, whatever stopped the fetch first
    if (verdict === 'only') throw err // nothing else answered: the download's own error
  }
  ctx.log.info({ name, started: id, files: ids().length }, 'another file of the name answered: download stopped')
  return fetch(await targetAmong(ctx, directory, name, interactive, answers.files()))
}
