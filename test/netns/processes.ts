import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { BIN } from '../helpers/cli.js'

/** Processes started inside a network namespace, for harness.ts and topology.ts. */

export interface HostProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Run `node <args>` inside `ns` (`ip netns exec` execs it: the child's PID is node's own). */
export function spawnInNamespace(ns: string, args: string[], cwd: string): HostProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-4000)
  })
  child.stdin!.on('error', () => undefined) // a child that exited before reading
  const exited = once(child, 'close').then(([code]) => code as number | null)
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal)
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      } else await exited // exited already: what it printed last is read once its pipes close
      return child.exitCode
    },
  }
}

/** Start a built command inside `ns`, its chunk store and logs in `dir` (p2p-listen and p2p dht-node have no store). */
export function startCommand(ns: string, dir: string, name: string, args: string[]): HostProcess {
  const storeless = name === 'p2p-listen' || (name === 'p2p' && args[0] === 'dht-node')
  const storeArgs = [...(storeless ? [] : ['--chunks-dir', join(dir, 'chunks')]), '--logs-dir', join(dir, 'logs')]
  const proc = spawnInNamespace(ns, [BIN(name), ...args, ...storeArgs], dir)
  proc.child.stdin!.end()
  return proc
}
