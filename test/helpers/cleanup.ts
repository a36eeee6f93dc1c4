/**
 * Cleanups that run last-registered-first (node:test runs `after` hooks in
 * registration order), so processes started in a directory are stopped
 * before the directory is removed. A failing cleanup does not skip the rest.
 */
export interface Cleanup {
  after: (fn: () => void | Promise<void>) => void
}

const stacks = new WeakMap<object, Array<() => void | Promise<void>>>()

export function onCleanup(t: Cleanup, fn: () => void | Promise<void>): void {
  let stack = stacks.get(t)
  if (!stack) {
    const fresh: Array<() => void | Promise<void>> = []
    stacks.set(t, fresh)
    t.after(async () => {
      for (const f of fresh.reverse())
        await Promise.resolve()
          .then(f)
          .catch(() => undefined)
    })
    stack = fresh
  }
  stack.push(fn)
}
