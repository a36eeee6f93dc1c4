import { isIPv4, isIPv6 } from 'node:net'
import { resolve } from 'node:path'
import bytes from 'bytes'

/**
 * How a setting's raw value (a string from a flag or the environment, a JSON
 * value from the config file) becomes its value, for every command's specs
 * (settings.ts, and the commands' own). A parser throws a SettingError
 * with the reason; config.ts turns it into one E_USAGE line naming where the
 * value came from.
 */

export class SettingError extends Error {}

/** A raw value as trimmed text (a number from the config file is taken as written). */
export function settingText(raw: unknown): string {
  if (typeof raw === 'number') return String(raw)
  if (typeof raw !== 'string') throw new SettingError(`expected a string, got ${typeof raw}`)
  return raw.trim()
}

export const parseDir = (raw: unknown, base: string): string => {
  const value = settingText(raw)
  if (value === '') throw new SettingError('must not be empty')
  return resolve(base, value)
}

export function parseInteger(min: number, max: number) {
  return (raw: unknown): number => {
    const value = settingText(raw)
    if (!/^-?\d+$/.test(value)) throw new SettingError(`must be a whole number from ${min} to ${max}`)
    const n = Number(value)
    if (n < min || n > max) throw new SettingError(`must be from ${min} to ${max}`)
    return n
  }
}

/** Seconds, fractions allowed (tests shrink timings to e.g. 0.2). */
export function parseSeconds(min: number, max: number) {
  return (raw: unknown): number => {
    const value = settingText(raw)
    if (!/^\d+(\.\d+)?$/.test(value)) throw new SettingError(`must be a number of seconds from ${min} to ${max}`)
    const n = Number(value)
    if (n < min || n > max) throw new SettingError(`must be from ${min} to ${max} seconds`)
    return n
  }
}

/**
 * A byte size: "65536", "512KiB", "4MiB", "1 GiB", "512KB". Units are binary
 * (K = 1024) whether or not written with an "i"; we normalise "KiB" to the
 * `bytes` library's "KB", which it already reads as 1024.
 */
export function parseByteSize(min: number, max: number) {
  return (raw: unknown): number => {
    const value = settingText(raw)
    const normalised = value.replace(/^(\d+(?:\.\d+)?)\s*([kmgtp])i?b$/i, '$1$2b')
    const n = /^\d+$/.test(value)
      ? Number(value)
      : /^\d+(\.\d+)?[kmgtp]b$/i.test(normalised)
        ? bytes.parse(normalised)
        : NaN
    if (n === null || !Number.isInteger(n)) throw new SettingError(`must be a size like 65536, 512KiB or 4MiB`)
    if (n < min || n > max)
      throw new SettingError(
        `must be from ${bytes.format(min)?.replace('B', 'iB')} to ${bytes.format(max)?.replace('B', 'iB')}`,
      )
    return n
  }
}

export function parseChoice<T extends string>(choices: readonly T[]) {
  return (raw: unknown): T => {
    const value = settingText(raw)
    if (!(choices as readonly string[]).includes(value)) throw new SettingError(`must be one of ${choices.join(', ')}`)
    return value as T
  }
}

export type BroadcastSetting = 'auto' | string[]

/** An IPv6 multicast group, optionally with the interface it is used on as its zone (ff12::7032:7032%eth0). */
const isGroupV6 = (address: string): boolean => {
  const at = address.indexOf('%')
  const plain = at < 0 ? address : address.slice(0, at)
  const zone = at < 0 ? '' : address.slice(at + 1)
  return isIPv6(plain) && /^ff[0-9a-f]{2}:/i.test(plain) && (at < 0 || /^[A-Za-z0-9.-]{1,15}$/.test(zone))
}

/**
 * The items of a list setting: one comma-separated string (a flag, the environment) or, in a config file, also an
 * array of such strings (a flag given several times arrives so too); `problem` for anything else.
 */
export function parseList(raw: unknown, problem: string): string[] {
  const items = Array.isArray(raw) ? raw : [raw]
  if (items.some((item) => typeof item !== 'string')) throw new SettingError(problem)
  return items.flatMap((item: string) =>
    item
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  )
}

/** "auto", or addresses (parseList). */
export const parseBroadcast = (raw: unknown): BroadcastSetting => {
  const problem = 'must be "auto" or a comma-separated list (or an array) of IPv4 addresses and IPv6 groups'
  const list = parseList(raw, problem)
  if (list.length === 1 && list[0] === 'auto') return 'auto'
  if (list.length === 0 || !list.every((a) => isIPv4(a) || isGroupV6(a))) throw new SettingError(problem)
  return list
}

/** on/off; a negated flag (--no-known-peers) arrives as false. */
export const parseOnOff = (raw: unknown): boolean => {
  if (typeof raw === 'boolean') return raw
  const value = settingText(raw).toLowerCase()
  if (['on', 'true', 'yes', '1'].includes(value)) return true
  if (['off', 'false', 'no', '0'].includes(value)) return false
  throw new SettingError('must be on or off')
}

/** Peers named by the user: a list (flags given several times, the config file's array) or one comma-separated string (env). Checked in detail by named-peers.ts. */
export const parsePeerList = (raw: unknown): string[] => parseList(raw, 'must be a list of HOST[:PORT] strings')

export const parseHost = (raw: unknown): string => {
  const value = settingText(raw)
  if (!/^[0-9a-zA-Z.:\-[\]]+(%[A-Za-z0-9.-]{1,15})?$/.test(value))
    throw new SettingError('must be an IP address or host name')
  return value
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
