import { spawn } from 'node:child_process'
import { join } from 'node:path'

/** The compiled lock module, for code run in another process or thread. */
export const lockModule = join(process.cwd(), 'dist/src/core/lock.js')

/**
 * Another process asking for the lock at `path` (lock.ts): its answer, 'held' or an error code, and its pid.
 * One that holds it keeps it until `done()`, so no timing decides who else can get it meanwhile.
 */
export function otherProcess(path: string): {
  answer: Promise<string>
  pid: number | undefined
  done: () => Promise<void>
} {
  const script = `const { acquireLock } = await import(${JSON.stringify(lockModule)});
    try { const release = await acquireLock(${JSON.stringify(path)}, 'x'); console.log('held');
      process.stdin.resume(); await new Promise((r) => process.stdin.on('end', r)); await release() }
    catch (e) { console.log(e.code) }`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 30_000,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))
  const answer = new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(out.trim())
    })
    child.on('error', reject)
    child.on('close', () => resolve(out.trim()))
  })
  return {
    answer,
    pid: child.pid,
    done: () => {
      child.stdin.end()
      return closed
    },
  }
}
