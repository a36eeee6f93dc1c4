import { unwatchFile, watchFile } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Logger } from '../log.js'
import { type AllowList, loadAllowList, stampOf } from './allow-list.js'

/**
 * An `--allow-file` followed while a command serves (an attacker pass,
 * fifty-first session: it was read once, at start, and a peer struck off
 * was still served until a restart). The file is looked at (its stat, so an
 * editor's save by rename is seen too) every ALLOW_FILE_POLL_MS; a change is
 * read once the file has held still for one more look (an editor writing in
 * place is not read half-way), or 5 looks after it began changing, and the
 * new list replaces the one in use if its stamp (nanosecond times) differs.
 * A file that cannot be read, or that lists nobody or a bad entry, keeps the
 * list in use, said as a warning: a half-written file must neither shut
 * everyone out nor let anyone in.
 */

/** How often a followed allow-list file is looked at. */
export const ALLOW_FILE_POLL_MS = 1000
/** A file still changing is read at the latest this many looks after its first change. */
const MAX_SETTLE_LOOKS = 5

/**
 * Follows `list`'s file until the returned function is called; `onChange` after each new list is in use (a
 * server ends the sessions it no longer admits: ChunkServer.closeNotAdmitted). A list without a file: nothing.
 */
export function followAllowList(
  list: AllowList,
  o: { log: Logger; onChange: () => void; intervalMs?: number },
): () => void {
  const { file, ids } = list.source
  if (file === undefined) return () => undefined
  const intervalMs = o.intervalMs ?? ALLOW_FILE_POLL_MS
  let stopped = false
  let settling: NodeJS.Timeout | undefined
  let reading = Promise.resolve()
  const readAgain = (): void => {
    reading = reading.then(async () => {
      if (stopped) return
      let next: AllowList
      try {
        next = (await loadAllowList(ids, file))!
      } catch (err) {
        if (!stopped)
          o.log.warn(
            { file, err: (err as Error).message },
            'the allow-list file was changed but cannot be used: the list in use is kept',
          )
        return
      }
      if (stopped || next.fileStamp === list.fileStamp) return
      list.replaceWith(next)
      o.log.info({ file, peers: list.size }, 'allow-list read again')
      try {
        o.onChange()
      } catch (err) {
        o.log.error({ err: (err as Error).message }, 'acting on the new allow-list failed')
      }
    })
  }
  // Read 1.5 looks after the last change seen, so at least one look comes between; yet no later than
  // MAX_SETTLE_LOOKS after the first (a file touched every second would otherwise never be read).
  let firstChange: number | undefined
  const changed = (): void => {
    if (stopped) return
    const now = performance.now()
    firstChange ??= now
    clearTimeout(settling)
    const wait = Math.min(1.5 * intervalMs, firstChange + MAX_SETTLE_LOOKS * intervalMs - now)
    settling = setTimeout(
      () => {
        firstChange = undefined
        readAgain()
      },
      Math.max(0, wait),
    ).unref()
  }
  watchFile(file, { interval: intervalMs, persistent: false }, changed)
  // Changed since it was read (a folder split before serving can take minutes): read again.
  void stat(file, { bigint: true }).then((st) => {
    if (stampOf(st) !== list.fileStamp) changed()
  }, changed)
  return () => {
    stopped = true
    clearTimeout(settling)
    unwatchFile(file, changed)
  }
}
