import { Command } from 'commander'
import { announceCommand } from './announce.js'
import { runProgram } from './common.js'
import { downloadCommand } from './download.js'
import { listenCommand } from './listen.js'
import { serveCommand } from './serve.js'
import { splitCommand } from './split.js'

/** Every command, by subcommand name. Each bin/p2p-<name> runs one; bin/p2p offers them all. */
export const COMMANDS: Record<string, () => Command> = {
  split: splitCommand,
  announce: announceCommand,
  serve: serveCommand,
  listen: listenCommand,
  download: downloadCommand,
}

export async function runCli(name?: string): Promise<void> {
  let program: Command
  if (name !== undefined) {
    program = COMMANDS[name]!().name(`p2p-${name}`)
  } else {
    program = new Command('p2p')
      .description('p2pshare: LAN peer-to-peer file sharing, verified to the byte')
      .addHelpText('after', '\nExamples:\n  $ p2p split movie.mkv\n  $ p2p serve --port 0\n  $ p2p download movie.mkv\n')
    for (const make of Object.values(COMMANDS)) program.addCommand(make())
  }
  await runProgram(program, process.argv)
}
