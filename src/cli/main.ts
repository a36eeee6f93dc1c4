import { Command } from 'commander'
import { runProgram } from './program.js'
import { written } from './written.js'

/**
 * Every command, by subcommand name, loaded on demand: each bin/p2p-<name>
 * imports only its own command's modules (start-up time is part of every
 * command's wall time; the download's prompt library alone costs ~100 ms).
 * `share`, `get`, `id`, `secret` and `dht-node` exist only under the umbrella (`p2p share`, `p2p id`, …).
 */
export const COMMANDS: Record<string, () => Promise<() => Command>> = {
  split: async () => (await import('./split.js')).splitCommand,
  announce: async () => (await import('./announce.js')).announceCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  listen: async () => (await import('./listen.js')).listenCommand,
  download: async () => (await import('./download.js')).downloadCommand,
  share: async () => (await import('./share.js')).shareCommand,
  get: async () => (await import('./get.js')).getCommand,
  id: async () => (await import('./id.js')).idCommand,
  secret: async () => (await import('./id.js')).secretCommand,
  'dht-node': async () => (await import('./dht-node.js')).dhtNodeCommand,
}

export async function runCli(name?: string): Promise<void> {
  let program: Command
  if (name !== undefined) {
    program = (await COMMANDS[name]!())().name(`p2p-${name}`)
  } else {
    program = new Command('p2p')
      .description('p2pshare: LAN peer-to-peer file sharing, verified to the byte')
      .addHelpText(
        'after',
        "\nExamples:\n  $ p2p share movie.mkv        # split, serve and announce in one process\n  $ p2p get movie.mkv          # on another machine\n  $ p2p split movie.mkv\n  $ p2p serve --port 0\n  $ p2p download movie.mkv\n  $ p2p id                     # this peer's peer ID\n  $ p2p secret                 # a new private swarm secret\n  $ p2p dht-node --host 203.0.113.7   # a private DHT's bootstrap node\n",
      )
    const sub = process.argv[2]
    const wanted = sub !== undefined && sub in COMMANDS ? [sub] : Object.keys(COMMANDS)
    for (const n of wanted) program.addCommand((await COMMANDS[n]!())())
  }
  await runProgram(program, unknownHelpAsCommand(process.argv))
  // The command has ended and said so: once its output has reached whoever reads it (writes to a pipe are
  // asynchronous: a slow reader of a 4 MiB receipt got 64 KiB when the process exited under it), exit now,
  // with its code. Left to end by itself, the process took ~10 ms more to tear down, its signal handlers
  // gone, and a Ctrl-C then killed it by the signal after it had printed its result (docs/reliability.md);
  // process.exit keeps them (process-handlers.ts exitOnLateSignal) to the end.
  await Promise.all([written(process.stdout), written(process.stderr)])
  process.exit()
}

/**
 * `p2p help nosuch` as `p2p nosuch`: the unknown command's one-line error (commander printed the whole help and
 * exited 2, saying nothing of what was wrong).
 */
function unknownHelpAsCommand(argv: string[]): string[] {
  const [node, script, sub, asked] = argv
  if (sub !== 'help' || asked === undefined || asked in COMMANDS || asked === 'help' || asked.startsWith('-'))
    return argv
  return [node!, script!, asked, ...argv.slice(4)]
}
