import { idProblem, isShareLink, P2PError, printable, validateName } from '../index.js'
import { onlyWith } from './common.js'
import { counted, shortId } from './format.js'
import { SEED_SETTINGS } from './seed.js'

/** What p2p-download and p2p get make of what they were given, and say of what they found (download.ts). */

/**
 * A name given beside --id (as after E_AMBIGUOUS) is the id's file's: the id decides, and a name that is not its
 * file's is said (it was ignored without a word): a warning line as the file is found, and in --json's receipt
 * (`warnings`); undefined when there is nothing to say.
 */
export function otherName(
  ctx: { options: Record<string, unknown>; args: string[] },
  id: string,
  name: string,
): string | undefined {
  const named = ctx.options.id === undefined ? undefined : ctx.args[0]
  if (named === undefined || isShareLink(named) || named === name) return undefined
  return `${shortId(id)}… is "${printable(name)}", not "${printable(named)}": downloading it`
}

/** --id as given, an id in either case (as printed anywhere), lower-cased; E_USAGE saying what is wrong, and where. */
export function idOption(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const text = String(value)
  const problem = idProblem(text)
  if (problem !== undefined)
    throw new P2PError(
      'E_USAGE',
      `--id must be 64 hex characters, got ${JSON.stringify(text).slice(0, 80)}: ${problem}`,
    )
  return text.toLowerCase()
}

/** `text` lower-cased when it is 64 hex characters in any case (an id), else as it is. */
export function asId(text: string): string {
  return /^[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() : text
}

/** What to say when only private swarms were heard: their peers were there, behind a secret we lack or mistyped. */
export function privateSwarmAdvice(heard: { sealed: number; otherSecret: number }): string | undefined {
  if (heard.sealed > 0)
    return `but ${counted(heard.sealed, 'sealed datagram')} of a private swarm came: give its secret (--secret, P2P_SECRET or --secret-file)`
  if (heard.otherSecret > 0)
    return `but ${counted(heard.otherSecret, 'sealed datagram')} our secret does not open came: another private swarm, or a mistyped secret`
  return undefined
}

/**
 * The name a download was given: a folder as listings show it and shells complete it, "album/", is the folder
 * "album"; a path says so, and which name to give (a download is asked for by the name its file is shared under).
 */
export function nameGiven(given: string): string {
  const trimmed = given.replace(/(?<=.)\/$/, '')
  const last = trimmed.split('/').at(-1) ?? ''
  if (trimmed.includes('/') && last !== '')
    throw new P2PError(
      'E_BAD_NAME',
      `"${printable(trimmed, 80)}" is a path: give the name a file is shared under, as p2p-listen lists it ("${printable(last, 80)}"?)`,
    )
  return validateName(trimmed)
}

/** Flags given on the command line that only `--seed` reads, refused without it (common.ts `onlyWith`). */
export function seedOnly(options: Record<string, unknown>): void {
  onlyWith(options, { key: 'seed', flag: 'seed' }, SEED_SETTINGS, 'what it serves on')
}
