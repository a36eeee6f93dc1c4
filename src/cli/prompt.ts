import { type KnownFile, nameProblem, P2PError, type PeerDirectory, printable } from '../index.js'
import { formatBytes, shortId } from './format.js'

const TYPE_A_NAME = '\u0000type'

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
      throw new P2PError('E_INTERRUPTED', 'cancelled at the prompt')
    throw err
  }
}

function describe(f: KnownFile): string {
  const complete = f.peers.filter((p) => p.have.count() === f.chunks).length
  const folder = f.files === undefined ? '' : `/  folder of ${f.files} files,`
  return `${printable(f.name)}${folder}  ${formatBytes(f.size)}  ${f.peers.length} peer(s), ${complete} complete  [${shortId(f.id)}…]`
}
