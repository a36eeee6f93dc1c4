import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { P2PError } from './errors.js'
import { parseJsonUtf8 } from './json.js'
import { readRegularFileSync, unreadableReason } from './safe-fs.js'
import { parseDir, SettingError } from './setting-parsers.js'
import type { SettingSpecs, Settings } from './setting-spec.js'
import { SETTINGS } from './settings.js'

/**
 * Settings. Each has a default, an environment variable, a key in the JSON
 * config file and a command-line flag; precedence flag > env > file > default.
 * The env name is the flag upper-cased, dashes to underscores, prefixed P2P_
 * (--chunks-dir → P2P_CHUNKS_DIR); the file key is the flag in camelCase
 * (chunksDir). A command declares the settings it uses; anything invalid stops
 * it with one line and exit code 2 (E_USAGE).
 */

export const CONFIG_FILE_NAME = 'p2p.config.json'

export function envName(flag: string): string {
  return `P2P_${flag.toUpperCase().replace(/-/g, '_')}`
}

export function camelKey(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

export interface ResolveOptions {
  /** Values from the command line, keyed by camelCase flag; undefined = not given. */
  flags: Record<string, unknown>
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** --config FILE, if given. */
  configFile?: string | undefined
  /**
   * One file serves every command: its keys may be other commands' settings (`otherKeys`, taken without a word), and
   * a section named after a command (`sections`; `"serve": {…}`) holds keys for that command alone, over the
   * top-level ones: `command`'s sections are read, a later one's keys over an earlier one's (`p2p get`: download's,
   * then get's). A key that is none of these is refused (a typo), unless `checkKeys` is false (a second read of a
   * file already checked).
   */
  fileKeys?: {
    otherKeys: ReadonlySet<string>
    sections: ReadonlySet<string>
    command?: string | readonly string[]
    /**
     * Of `otherKeys`, those a section may hold: its commands' (a key of another command's there was taken and read
     * by none: `"get": {"id": …}`, p2p-listen's key, did nothing to p2p get); a section not here, any of them.
     */
    sectionKeys?: ReadonlyMap<string, ReadonlySet<string>>
  }
  checkKeys?: boolean
}

const MAX_CONFIG_BYTES = 1024 * 1024

function readConfigFile(path: string): Record<string, unknown> {
  let json: unknown
  try {
    json = parseJsonUtf8(readRegularFileSync(path, { maxBytes: MAX_CONFIG_BYTES, followSymlinks: true })) // a FIFO here must not hang start-up
  } catch (err) {
    throw new P2PError('E_USAGE', `cannot read config file ${path}: ${unreadableReason(err)}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new P2PError('E_USAGE', `config file ${path} must hold a JSON object`)
  }
  return json as Record<string, unknown>
}

/** The config file settings are read from: --config, else P2P_CONFIG, else ./p2p.config.json (if present); whether named. */
export function configFilePath(options: Pick<ResolveOptions, 'configFile' | 'env' | 'cwd'>): {
  path: string
  explicit: boolean
} {
  const explicit = options.configFile ?? (options.env ?? process.env).P2P_CONFIG
  return { path: resolve(options.cwd ?? process.cwd(), explicit ?? CONFIG_FILE_NAME), explicit: explicit !== undefined }
}

/** Resolve `specs` from flags, env, config file and defaults. Throws E_USAGE with one clear line. */
export function resolveSettings<S extends SettingSpecs>(specs: S, options: ResolveOptions): Settings<S> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const { path: filePath, explicit } = configFilePath(options)
  const whole = explicit || existsSync(filePath) ? readConfigFile(filePath) : {}
  const { file, where } = fileSettings(whole, filePath, specs, options)
  const out: Record<string, unknown> = {}
  /** Where each setting was found: 0 a flag, 1 the environment, 2 the config file (absent: its default). */
  const rank = new Map<string, number>()
  for (const [key, setting] of Object.entries(specs)) {
    const fileKey = setting.fileKey ?? camelKey(setting.flag)
    const envKey = setting.env ?? envName(setting.flag)
    const sources: Array<[unknown, string]> = [
      [options.flags[camelKey(setting.flag)], `--${setting.flag}`],
      [env[envKey], envKey],
      [Object.hasOwn(file, fileKey) ? file[fileKey] : undefined, `"${fileKey}" in ${where(fileKey)}`],
    ]
    const at = sources.findIndex(([value]) => value !== undefined)
    const found = sources[at]
    if (found === undefined) {
      out[key] =
        typeof setting.defaultValue === 'string' && setting.defaultValue !== '' && setting.parse === parseDir
          ? parseDir(setting.defaultValue, cwd)
          : setting.defaultValue
      continue
    }
    rank.set(key, at)
    try {
      out[key] = setting.parse(found[0], cwd)
    } catch (err) {
      if (!(err instanceof SettingError)) throw err
      // A secret is never quoted back, however it was mistyped.
      const shown = /secret/i.test(key) ? '' : ` ${JSON.stringify(found[0])}`
      throw new P2PError('E_USAGE', `invalid value${shown} for ${found[1]}: ${err.message}`)
    }
  }
  // Of a pair given two ways (SettingSpec `sameAs`), the one from the lower source is read as not given.
  for (const [key, setting] of Object.entries(specs)) {
    const other = setting.sameAs
    if (other === undefined || !(other in specs)) continue
    if ((rank.get(key) ?? Infinity) < (rank.get(other) ?? Infinity)) out[other] = specs[other]!.defaultValue
  }
  return out as Settings<S>
}

/**
 * The file's settings for this command (its section's over the top level), each key checked (ResolveOptions
 * `fileKeys`), and where a key was read, for an error.
 */
function fileSettings(
  whole: Record<string, unknown>,
  filePath: string,
  specs: SettingSpecs,
  options: ResolveOptions,
): { file: Record<string, unknown>; where: (key: string) => string } {
  const { sections = new Set<string>(), otherKeys = new Set<string>(), command, sectionKeys } = options.fileKeys ?? {}
  const core = new Set(Object.values(SETTINGS).map((s) => s.fileKey ?? camelKey(s.flag)))
  const known = new Set([...core, ...Object.values(specs).map((s) => s.fileKey ?? camelKey(s.flag))])
  const check = (keys: string[], place: string): void => {
    if (options.checkKeys === false) return
    for (const key of keys)
      if (!known.has(key) && !otherKeys.has(key)) throw new P2PError('E_USAGE', `unknown setting "${key}" in ${place}`)
  }
  // A section's keys are its commands' (this command's own may be none of them), whichever command reads the file.
  const checkSection = (section: string, keys: string[]): void => {
    const mine = sectionKeys?.get(section)
    const place = `the "${section}" section of config file ${filePath}`
    if (mine === undefined || options.checkKeys === false) {
      check(keys, place)
      return
    }
    for (const key of keys) {
      if (core.has(key) || mine.has(key)) continue
      if (!otherKeys.has(key)) throw new P2PError('E_USAGE', `unknown setting "${key}" in ${place}`)
      throw new P2PError(
        'E_USAGE',
        `setting "${key}" in ${place} is not one of ${section}'s (another command's: put it at the top level, or in that command's section)`,
      )
    }
  }
  const top: Record<string, unknown> = {}
  const found = new Map<string, Record<string, unknown>>()
  for (const [key, value] of Object.entries(whole)) {
    if (!sections.has(key)) {
      check([key], `config file ${filePath}`)
      top[key] = value
      continue
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new P2PError('E_USAGE', `"${key}" in config file ${filePath} must be a JSON object of ${key}'s settings`)
    checkSection(key, Object.keys(value))
    found.set(key, value as Record<string, unknown>)
  }
  const mine = [command ?? []].flat().filter((section) => found.has(section))
  const where = (key: string): string => {
    const section = mine.findLast((name) => Object.hasOwn(found.get(name)!, key))
    return section === undefined ? filePath : `the "${section}" section of ${filePath}`
  }
  // Spread, not Object.assign: a "__proto__" key (refused as unknown anyway) must never reach a setter.
  const file = mine.reduce<Record<string, unknown>>((all, section) => ({ ...all, ...found.get(section) }), { ...top })
  return { file, where }
}
