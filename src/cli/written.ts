/** Resolves once everything written to `stream` has left the process (or the stream is gone). */
export function written(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done).off('close', done).off('error', done)
      resolve()
    }
    stream.on('drain', done).on('close', done).on('error', done)
  })
}

/** From now on `stream` takes no more writes (what it holds still leaves): said as written, so no writer waits. */
export function silence(stream: NodeJS.WriteStream): void {
  stream.write = ((...args: unknown[]): boolean => {
    const done = args.find((a): a is () => void => typeof a === 'function')
    done?.()
    return true
  }) as typeof stream.write
}
