import type { EventEmitter } from 'node:events'

/**
 * Resolves on `emitter`'s next 'change', after `ms`, or when `signal`
 * aborts, with every listener and timer removed then (a wait left behind
 * must not hold the process). After a long task the event loop runs overdue
 * timers before it reads the sockets, so a timeout is not taken as "nothing
 * came" until one poll phase has read what arrived meanwhile. The one
 * `waitForChange` of the peer finders (peers.ts, dht-peers.ts).
 */
export function nextChange(emitter: EventEmitter, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let polled: NodeJS.Immediate | undefined
    const done = (): void => {
      clearTimeout(timer)
      clearImmediate(polled)
      emitter.off('change', done)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(
      () => {
        polled = setImmediate(done)
      },
      Math.max(0, ms),
    )
    emitter.on('change', done)
    signal?.addEventListener('abort', done, { once: true })
    if (signal?.aborted) done()
  })
}
