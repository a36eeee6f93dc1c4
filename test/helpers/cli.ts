import { type SpawnOptions, spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BIN = (name: string): string => `${ROOT}bin/${name}`

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run a built command to completion (killed after `timeoutMs`), under `wrap` (a command prefix) if given. */
export function runBin(
  name: string,
  args: string[],
  options: SpawnOptions & { timeoutMs?: number; input?: string; wrap?: string[] } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = [...(options.wrap ?? []), process.execPath]
    const child = spawn(command!, [...prefix, BIN(name), ...args], { ...options, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin!.end(options.input ?? '')
  })
}

/**
 * How to run a built command so that file permissions stop it (a mode-000
 * file gives EACCES), or why it cannot be done here. Not root: as it is.
 * Root: through setpriv(1), still as root (so the checkout is readable
 * wherever it was cloned) but without the two capabilities that override
 * permissions. Checked by doing it once.
 */
export function permissionsBind(): { wrap: string[] } | { skip: string } {
  const wrap =
    process.getuid?.() === 0
      ? ['setpriv', '--inh-caps=-all', '--bounding-set=-dac_override,-dac_read_search', '--']
      : []
  const dir = mkdtempSync(join(tmpdir(), 'p2p-perm-probe-'))
  try {
    writeFileSync(join(dir, 'locked'), 'x')
    chmodSync(join(dir, 'locked'), 0o000)
    const probe = `const fs = require('node:fs'); fs.accessSync(${JSON.stringify(BIN('p2p-split'))}, fs.constants.R_OK); try { fs.readFileSync(${JSON.stringify(join(dir, 'locked'))}); console.log('readable') } catch (e) { console.log(e.code) }`
    const [command, ...prefix] = [...wrap, process.execPath]
    const r = spawnSync(command!, [...prefix, '-e', probe], { encoding: 'utf8' })
    if (r.error) return { skip: `cannot run ${command}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` }
    if (r.stdout.trim() !== 'EACCES')
      return {
        skip: `a mode-000 file is not refused to ${wrap.length ? 'root without CAP_DAC_OVERRIDE' : 'this user'} (${(r.stdout + r.stderr).trim().split('\n')[0]})`,
      }
    return { wrap }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
