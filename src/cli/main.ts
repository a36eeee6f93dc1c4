import { Command } from 'commander'
import { notBuilt, runProgram } from './common.js'
import { splitCommand } from './split.js'

/** Every command, by subcommand name. Each bin/p2p-<name> runs one; bin/p2p offers them all. */
export const COMMANDS: Record<string, () => Command> = {
  split: splitCommand,
  announce: notBuilt('announce', 'broadcast, over UDP, what the chunk store holds'),
  serve: notBuilt('serve', 'answer chunk requests over persistent TCP connections'),
  listen: notBuilt('listen', 'receive announcements and keep the content dictionary'),
  download: notBuilt('download', 'download a file from peers, verify and stitch it'),
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
