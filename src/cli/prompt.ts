import {
  idProblem,
  type KnownFile,
  NAME_QUIET_MS,
  nameProblem,
  P2PError,
  type PeerDirectory,
  printable,
  waitForQuiet,
} from '../index.js'
import { counted, formatBytes, lookAlike, shortId, someOf } from './format.js'

const TYPE_A_NAME = '\u0000type'
/** Files of one name an E_AMBIGUOUS message lists by id. */
const LISTED_FILES = 5

/**
 * The interactive pick: the files the LAN offers (name, size, peers, complete
 * copies, id prefix so same-named files are told apart), or a name typed in.
 * Only used on a terminal; Ctrl-C here is an ordinary interruption.
 */
export async function chooseFile(
  directory: PeerDirectory,
  name: string | undefined,
  signal: AbortSignal,
): Promise<string> {
  const { input, select } = await import('@inquirer/prompts') // loaded only when someone is asked
  try {
    for (;;) {
      const files = (name === undefined ? directory.files() : directory.named(name)).sort((a, b) =>
        a.name.localeCompare(b.name),
      )
      const choice = await select(
        {
          message: name === undefined ? 'Which file?' : `Several files are named "${printable(name)}"; which one?`,
          choices: [
            ...files.map((f) => ({ name: describe(f), value: f.id })),
            ...(name === undefined ? [{ name: '(type a name)', value: TYPE_A_NAME }] : []),
          ],
          pageSize: 15,
        },
        { signal },
      )
      if (choice !== TYPE_A_NAME) return choice
      const typed = await input({ message: 'File name:', validate: (v) => nameProblem(v) ?? true }, { signal })
      const matches = directory.named(typed.normalize('NFC'))
      if (matches.length === 1) return matches[0]!.id
      if (matches.length > 1) name = typed.normalize('NFC')
      else process.stderr.write(`No peer offers "${printable(typed)}" right now.\n`)
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason
    if ((err as Error).name === 'ExitPromptError' || (err as Error).name === 'AbortPromptError')
      throw new P2PError('E_INTERRUPTED', 'cancelled at the prompt', { nothingBegun: true })
    throw err
  }
}

function describe(f: KnownFile): string {
  const complete = f.peers.filter((p) => p.have.count() === f.chunks).length
  const folder = f.files === undefined ? '' : `/  folder of ${counted(f.files, 'file')},`
  return `${printable(f.name)}${folder}  ${formatBytes(f.size)}  ${counted(f.peers.length, 'peer')}, ${complete} complete${lookAlike(f.name)}  [${shortId(f.id)}…]`
}

/** What picking a file needs of the command: how long to wait (--wait, seconds) and its stop. */
export interface PickContext {
  settings: { wait: number }
  signal: AbortSignal
  /**
   * The files the chunk store holds under a name no peer announced (held-in-store.ts): one held whole is the file
   * (as `--id` takes it offline); in part, the error says so; several are E_AMBIGUOUS, as on the LAN. Without it, a
   * name no peer announced is E_NOT_FOUND.
   */
  heldInStore?: (name: string) => Promise<HeldEntry[]>
  /** A line for the user (not with --json). */
  say?: (line: string) => void
}

/** A file the chunk store holds under a name: the entry's id, its size, and how many of its chunks it holds. */
export interface HeldEntry {
  id: string
  size: number
  held: number
  chunks: number
}

/**
 * Resolves once no new id of `ids` has turned up for `quietMs` (0: once the first turns up), within `deadline`.
 * Files of the same name answer our query one by one (announcers busy or rate-limited, big stores in several
 * datagrams), so a name is decided on quiet, not on the first answer.
 */
export function settleAnswers(
  ctx: PickContext,
  directory: PeerDirectory,
  ids: () => string[],
  quietMs: number,
  deadline: number,
): Promise<void> {
  return waitForQuiet(directory, ids, { quietMs, since: directory.queriedAt, deadline, signal: ctx.signal })
}

/**
 * The id to fetch: the only file with that name, the user's pick among several, or the prompt's answer,
 * once no new file of that name has turned up for NAME_QUIET_MS, within --wait. (A download by name on the
 * LAN starts before that: by-name.ts.)
 */
export async function pickTarget(
  ctx: PickContext,
  directory: PeerDirectory,
  name: string | undefined,
  interactive: boolean,
): Promise<string> {
  const deadline = performance.now() + ctx.settings.wait * 1000
  if (name === undefined) {
    // The picker lists what answered; a quiet LAN shows an empty list after a few quiet intervals, not after --wait.
    const until = Math.min(deadline, directory.queriedAt + 3 * NAME_QUIET_MS)
    await settleAnswers(ctx, directory, () => directory.files().map((f) => f.id), NAME_QUIET_MS, until)
    return chooseFile(directory, undefined, ctx.signal)
  }
  const answers = nameAnswers(directory, name)
  await settleAnswers(ctx, directory, answers.ids, NAME_QUIET_MS, deadline)
  return targetAmong(ctx, directory, name, interactive, answers.files())
}

/**
 * Every file that answered under `name` since this was made, listed still or not. A goodbye takes a peer out
 * of the directory, not a file out of the name's answers: any stranger can forge one from a seeder's address,
 * and must not make a name that two files answered look like the other file's alone.
 */
export function nameAnswers(directory: PeerDirectory, name: string): { ids: () => string[]; files: () => KnownFile[] } {
  const seen = new Map<string, KnownFile>()
  const look = (): void => {
    for (const f of directory.named(name)) seen.set(f.id, f)
  }
  return {
    // A look on every change (a flood's thousands a second): summaries only for an id not seen yet.
    ids: () => {
      if (directory.namedIds(name).some((id) => !seen.has(id))) look()
      return [...seen.keys()]
    },
    files: () => {
      look()
      return [...seen.values()]
    },
  }
}

/** No listed peer announced `name`, and these peer IDs off the allow-list did: E_AUTH naming them. */
function notListed(name: string, wait: number, unlisted: { peers: string[]; more: boolean }): P2PError {
  const { peers, more } = unlisted
  const named = someOf(peers, 3, more)
  return new P2PError(
    'E_AUTH',
    peers.length === 1 && !more
      ? `no peer on the allow-list announced "${name}" within ${wait} s; one that is not on it did (${named}): add its peer ID to --allow if you trust it`
      : `no peer on the allow-list announced "${name}" within ${wait} s; ${more ? `at least ${peers.length + 1}` : peers.length} peers that are not on it did (${named}): add their peer IDs to --allow if you trust them`,
  )
}

/** Once the name is decided: its only file, the user's pick among several, else E_NOT_FOUND or E_AMBIGUOUS. */
export async function targetAmong(
  ctx: PickContext,
  directory: PeerDirectory,
  name: string,
  interactive: boolean,
  /** Files of the name that answered and may be listed no more (`nameAnswers`): still the name's files. */
  answered: KnownFile[] = [],
): Promise<string> {
  const listed: KnownFile[] = directory.named(name)
  const matches = [...listed, ...answered.filter((a) => !listed.some((f) => f.id === a.id))]
  if (matches.length === 0) {
    const unlisted = directory.unlistedNamers()
    const nobody = `no peer${unlisted.peers.length > 0 ? ' on the allow-list' : ''} announced "${name}" within ${ctx.settings.wait} s`
    // Downloaded before (or split here): what the store holds is that name's file, as --id takes it offline. Before
    // the strangers off the allow-list are named: one announcing the name made a file held whole E_AUTH, "add its
    // peer ID to --allow if you trust it" (a review), where the name is decided among the peers we would fetch from.
    const inStore = (await ctx.heldInStore?.(name)) ?? []
    if (inStore.length > 1) throw heldAmbiguous(nobody, name, inStore)
    const held = inStore[0]
    if (held !== undefined && held.held === held.chunks) {
      ctx.say?.(`${nobody}; the chunk store holds it whole (id ${shortId(held.id)}…): placing it from there`)
      return held.id
    }
    if (unlisted.peers.length > 0) throw notListed(name, ctx.settings.wait, unlisted)
    const part =
      held === undefined
        ? ''
        : `; the chunk store holds ${held.held} of its ${held.chunks} chunks (id ${held.id}): the same command resumes it once a seeder is back`
    // 64 hex characters are a name to p2p-download (`p2p get` takes them as an id); a few more or fewer, a
    // mistyped id's, say which.
    const anId = /^[0-9a-fA-F]{64}$/.test(name)
      ? ' (if that is an id: give it with --id, or use p2p get)'
      : /^[0-9a-fA-F]{48,80}$/.test(name)
        ? ` (if that is an id: ${idProblem(name)})`
        : ''
    throw new P2PError(
      'E_NOT_FOUND',
      `${nobody}: check the name (p2p-listen shows what the LAN offers) and that a seeder is running${anId}${part}`,
    )
  }
  if (matches.length === 1) return matches[0]!.id
  if (interactive) return chooseFile(directory, name, ctx.signal)
  // A few, then how many more: a stranger announcing ids by the dozen would make the line unreadable. Each id
  // whole: --id takes nothing shorter (a usability pass found the shortened ones of no use to it).
  const list = someOf(
    matches.map((f) => `${f.id} (${formatBytes(f.size)}, ${counted(f.peers.length, 'peer')})`),
    LISTED_FILES,
  )
  throw new P2PError(
    'E_AMBIGUOUS',
    `${matches.length} different files are named "${name}": ${list}; pick one with --id`,
  )
}

/** Several files of the name in the chunk store and none on the LAN: which one is the user's to say, with --id. */
function heldAmbiguous(nobody: string, name: string, held: readonly HeldEntry[]): P2PError {
  const list = someOf(
    held.map((f) => `${f.id} (${formatBytes(f.size)}, ${f.held} of ${counted(f.chunks, 'chunk')} held)`),
    LISTED_FILES,
  )
  return new P2PError(
    'E_AMBIGUOUS',
    `${nobody}; the chunk store holds ${held.length} files named "${name}": ${list}; pick one with --id`,
  )
}
