import { existsSync, readFileSync, readlinkSync } from 'node:fs'

/**
 * A process told apart from any other that had or will have its pid: its
 * pid, its start time and the boot it runs in (Linux's /proc). A lock or a
 * vouch that names one stands only while that very process runs: after a
 * SIGKILL, a crash or a reboot, a pid taken again by another process does
 * not keep it alive. Without /proc (not Linux) there is no stamp, and the
 * callers fall back to the pid alone. Stamps mean something within one pid
 * namespace (the store's processes see one another's pids), as pids do.
 */

/** Which process, on which boot: a pid alone may be another process's by the time it is read. */
export interface ProcessStamp {
  readonly boot: string
  readonly pid: number
  /** Clock ticks from boot to the process's start (/proc/<pid>/stat, field 22). */
  readonly start: string
}

/** What /proc says of the process a stamp names: `unknown` when it cannot be read (gone, or hidden: hidepid). */
export type StampState = 'running' | 'gone' | 'unknown'

let bootId: string | null | undefined

function thisBoot(): string | undefined {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim()
    } catch {
      bootId = null // not Linux, or no /proc: no stamps
    }
  }
  return bootId ?? undefined
}

/** `pid`'s state letter and start time, or undefined when its stat cannot be read. */
function procStat(pid: number): { state: string; start: string } | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // The command name, in parentheses, may itself hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const [state, start] = [fields[0], fields[19]]
  return state !== undefined && start !== undefined && /^\d+$/.test(start) ? { state, start } : undefined
}

const isZombie = (state: string): boolean => state === 'Z' || state === 'X'

/** The process `pid` as it is now, or undefined when it is not running (gone, or a zombie) or /proc cannot say. */
export function processStamp(pid: number = process.pid): ProcessStamp | undefined {
  const boot = thisBoot()
  const stat = boot === undefined ? undefined : procStat(pid)
  if (boot === undefined || stat === undefined || isZombie(stat.state)) return undefined
  return { boot, pid, start: stat.start }
}

/** Whether the process `stamp` names still runs: the one under its pid now, on this boot. */
export function stampState(stamp: ProcessStamp): StampState {
  const boot = thisBoot()
  if (boot === undefined) return 'unknown'
  if (stamp.boot !== boot) return 'gone' // an earlier boot's: asked without reading /proc
  const stat = procStat(stamp.pid)
  if (stat === undefined) return 'unknown'
  return isZombie(stat.state) || stat.start !== stamp.start ? 'gone' : 'running'
}

const START = /^\d{1,20}$/
const BOOT = /^[0-9a-f-]{1,64}$/

/** A stamp as one line's fields: `<pid> <start> <boot>`. */
export function formatStamp(stamp: ProcessStamp): string {
  return `${stamp.pid} ${stamp.start} ${stamp.boot}`
}

/** The stamp of `pid`, `start` and `boot` as read back (from a lock or a vouch), or undefined when malformed. */
export function parseStamp(pid: unknown, start: unknown, boot: unknown): ProcessStamp | undefined {
  const n = typeof pid === 'string' && /^\d{1,10}$/.test(pid) ? Number(pid) : pid
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0 || n > 2 ** 31) return undefined
  if (typeof start !== 'string' || !START.test(start) || typeof boot !== 'string' || !BOOT.test(boot)) return undefined
  return { pid: n, start, boot }
}

let ownThread: number | null | undefined

/**
 * The kernel's id of the calling thread (a worker thread's differs from the
 * process's pid), or undefined without /proc. Each thread has its own copy
 * of this module, so the cached value is that thread's.
 */
export function threadOfCaller(): number | undefined {
  if (ownThread === undefined) {
    try {
      const tid = Number(readlinkSync('/proc/thread-self', 'latin1').split('/').at(-1))
      ownThread = Number.isSafeInteger(tid) && tid > 0 ? tid : null
    } catch {
      ownThread = null
    }
  }
  return ownThread ?? undefined
}

/**
 * Whether thread `tid` of process `pid` is alive: its task in /proc is there.
 * A tid is unique among the threads alive on the host, so one of another
 * process never shows under `pid`; only a later thread of `pid` itself
 * could take the number again.
 */
export function threadAlive(pid: number, tid: number): boolean {
  return existsSync(`/proc/${pid}/task/${tid}`)
}
