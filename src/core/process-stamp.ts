import { readFileSync } from 'node:fs'

/**
 * A process told apart from any other that had or will have its pid: its
 * pid, its start time and the boot it runs in (Linux's /proc). A lock or a
 * vouch that names one stands only while that very process runs: after a
 * SIGKILL, a crash or a reboot, a pid taken again by another process does
 * not keep it alive. Without /proc (not Linux) there is no stamp, and the
 * callers fall back to the pid alone.
 */

/** Which process, on which boot: a pid alone may be another process's by the time it is read. */
export interface ProcessStamp {
  readonly boot: string
  readonly pid: number
  /** Clock ticks from boot to the process's start (/proc/<pid>/stat, field 22). */
  readonly start: string
}

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

/** The process `pid` as it is now, or undefined when it is not running (gone, or a zombie) or /proc cannot say. */
export function processStamp(pid: number = process.pid): ProcessStamp | undefined {
  const boot = thisBoot()
  if (boot === undefined || !Number.isSafeInteger(pid) || pid <= 0) return undefined
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return undefined
  }
  // The command name, in parentheses, may itself hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const [state, start] = [fields[0], fields[19]]
  if (state === 'Z' || state === 'X' || start === undefined || !/^\d+$/.test(start)) return undefined
  return { boot, pid, start }
}

/** Whether the process `stamp` names is the one running now under its pid, on this boot. */
export function isRunningNow(stamp: ProcessStamp): boolean {
  const now = processStamp(stamp.pid)
  return now !== undefined && now.boot === stamp.boot && now.start === stamp.start
}
