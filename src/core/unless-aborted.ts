/**
 * `work`'s value, or `undefined` as soon as `signal` aborts (at once if it
 * already has): for a start that can take seconds (a DHT whose nodes do not
 * answer), which a Ctrl-C must not wait for. The work left running is the
 * caller's to stop (its stop ends it); a failure it meets after that is
 * nobody's outcome, and is swallowed.
 */
export async function unlessAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<{ value: T } | undefined> {
  if (signal === undefined) return { value: await work }
  let onAbort = (): void => undefined
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    const outcome = await Promise.race([work.then((value) => ({ value })), aborted])
    if (outcome === undefined) work.catch(() => undefined)
    return outcome
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
