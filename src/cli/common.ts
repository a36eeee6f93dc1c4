import chalk from 'chalk'
import { Command, Option } from 'commander'
import { envName, resolveSettings } from '../core/config.js'
import { isShareLink, parseShareLink, quotableLink, withoutSecrets } from '../core/discovery/share-link.js'
import { hasCode, P2PError } from '../core/errors.js'
import { createCommandLog, type Logger } from '../core/log.js'
import { printable } from '../core/printable.js'
import { commandPrivatePaths } from '../core/private-paths.js'
import type { SettingSpecs, Settings } from '../core/setting-spec.js'
import { SETTINGS } from '../core/settings.js'
import type { PrivatePath } from '../core/split-item.js'
import { takeEarlySignal } from './early-signals.js'
import { commandEnded, commandStarted, onOutputError, watchOutput } from './process-handlers.js'
import { COMMAND_FILE_KEYS, CONFIG_SECTIONS, SECTION_KEYS, sectionsOf } from './setting-keys.js'
import { silence, written } from './written.js'

/** Declaring a command's settings is part of the frame: commands take these from here, the library from src/index.ts. */
export { counted, filesAndFolders, someOf } from '../core/counted.js'
export { parseByteSize, parseInteger, parseSeconds, SettingError } from '../core/setting-parsers.js'
export type { Settings } from '../core/setting-spec.js'
export { pickSettings } from '../core/settings.js'

/**
 * The frame every command shares: settings as options (flag > env > file >
 * default), --config and --json, a log file per command, one red line and an
 * exit code for every failure, and clean SIGINT/SIGTERM handling. Beside it:
 * program.ts runs the commands (commander's own errors), process-handlers.ts
 * holds what the frame puts in place once a process, and stopping.ts how a
 * command that runs until Ctrl-C ends.
 */

export interface CommandContext<S extends SettingSpecs> {
  settings: Settings<S>
  /** Raw commander options (for command-specific non-setting flags). */
  options: Record<string, unknown>
  args: string[]
  json: boolean
  log: Logger
  /** The command's private files and directories (commandPrivatePaths), never to be shared; read when asked. */
  privatePaths: () => PrivatePath[]
  /** Aborted on SIGINT/SIGTERM; long work checks it and stops resumably. */
  signal: AbortSignal
  /** Human output goes to stdout; with --json only the result object does. */
  out: (line: string) => void
  err: (line: string) => void
}

export interface CommandDefinition<S extends SettingSpecs> {
  /** Subcommand name: "split" → binary p2p-split, umbrella "p2p split". */
  name: string
  summary: string
  arguments?: string
  settings: S
  examples: string[]
  configure?: (cmd: Command) => void
  /** Checks made before the log opens or anything is made: a command refused there leaves nothing behind. */
  preflight?: (ctx: Pick<CommandContext<S>, 'settings' | 'options' | 'args' | 'privatePaths'>) => Promise<void>
  /** Returns the exit code (0 on success). */
  run: (ctx: CommandContext<S>) => Promise<number>
  /** What an interrupted run is told to do next, when not "run the same command again to resume". */
  afterInterrupt?: string
  /** Writes no log file (a command run anywhere, such as `p2p secret` in `$(…)`, leaves no logs/ behind). */
  noLogFile?: true
}

const COMMON = { logsDir: SETTINGS.logsDir, logLevel: SETTINGS.logLevel }

/** Each defined command's own settings, by name (setting-keys.ts is kept equal to them: unit/setting-keys). */
export const DEFINED_SETTINGS = new Map<string, SettingSpecs>()

export function defineCommand<S extends SettingSpecs>(def: CommandDefinition<S>): () => Command {
  DEFINED_SETTINGS.set(def.name, def.settings)
  return () => {
    const cmd = new Command(def.name).description(def.summary)
    if (def.arguments) cmd.arguments(def.arguments)
    const specs = { ...COMMON, ...def.settings }
    for (const setting of Object.values(specs)) {
      const label =
        setting.defaultLabel ??
        (Array.isArray(setting.defaultValue) ? setting.defaultValue.join(',') : String(setting.defaultValue))
      const option = new Option(
        `--${setting.flag} ${setting.valueName}`,
        `${setting.description} (default: ${label}; env ${setting.env ?? envName(setting.flag)})`,
      )
      if (setting.repeatable)
        option.argParser((value: string, previous: unknown) => [...((previous as string[] | undefined) ?? []), value])
      // Taken still (a script passes them to every command), but not offered: such a command writes no log.
      if (def.noLogFile && (setting === COMMON.logsDir || setting === COMMON.logLevel)) option.hideHelp()
      cmd.addOption(option)
      if (setting.defaultValue === true)
        cmd.addOption(new Option(`--no-${setting.flag}`, `same as --${setting.flag} off`))
    }
    def.configure?.(cmd)
    cmd.option('--config <file>', `JSON config file (default: ./p2p.config.json if present; env P2P_CONFIG)`)
    cmd.option(
      '--json',
      'JSON on stdout instead of human output, one object a line: the result (a command that runs until stopped: one when it starts, one as it stops, and announce and listen one an event)',
    )
    cmd.addHelpText('after', `\nExamples:\n${def.examples.map((e) => `  $ ${e}`).join('\n')}\n`)
    cmd.action(async (...params: unknown[]) => {
      const command = params[params.length - 1] as Command
      const options = command.opts()
      const args = command.args
      process.exitCode = await execute(def, specs, options, args)
    })
    return cmd
  }
}

async function execute<S extends SettingSpecs>(
  def: CommandDefinition<S>,
  specs: S & typeof COMMON,
  options: Record<string, unknown>,
  args: string[],
): Promise<number> {
  const json = options.json === true
  let log: Logger | undefined
  const controller = new AbortController()
  let leaving = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (leaving) return
    if (controller.signal.aborted) {
      leaving = true
      // A second Ctrl-C: leave now, still with the one result a script reads (a reader's full pipe given 0.5 s).
      const second = new P2PError('E_INTERRUPTED', `interrupted again by ${signal}: left at once, without the clean-up`)
      const code = reportFailure(second, json, log, def.afterInterrupt)
      // Its result is the last: the clean-up left running may print while the output leaves (the review of this).
      for (const stream of [process.stdout, process.stderr]) silence(stream)
      const leave = (): never => process.exit(code)
      void Promise.all([written(process.stdout), written(process.stderr)]).then(leave)
      setTimeout(leave, 500).unref()
      return
    }
    log?.info({ signal }, 'interrupted')
    controller.abort(new P2PError('E_INTERRUPTED', `interrupted by ${signal}`))
  }
  // The reader of our output went away (`| head`, a supervisor's closed pipe): stop as on SIGTERM,
  // as a Unix tool stops on SIGPIPE, instead of dying on an unhandled EPIPE with a stack trace.
  // Any other write error (ENOSPC on a redirected --json) loses output: stop too, and exit 6.
  let outputLost: string | undefined
  onOutputError((error: NodeJS.ErrnoException): void => {
    if (error.code !== 'EPIPE') outputLost ??= error.code ?? error.message
    if (!controller.signal.aborted) onSignal('SIGPIPE')
  })
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const early = takeEarlySignal()
  commandStarted()
  watchOutput()
  try {
    if (early !== undefined)
      throw new P2PError('E_INTERRUPTED', `interrupted by ${early} as it started`, { nothingBegun: true })
    const settings = resolveSettings(specs, {
      flags: options,
      configFile: options.config as string | undefined,
      fileKeys: {
        otherKeys: COMMAND_FILE_KEYS,
        sections: CONFIG_SECTIONS,
        sectionKeys: SECTION_KEYS,
        command: sectionsOf(def.name),
      },
    }) as Settings<S> & Settings<typeof COMMON>
    const privatePaths = (): PrivatePath[] =>
      commandPrivatePaths(settings.logsDir, settings.logLevel, options, {
        sections: CONFIG_SECTIONS,
        command: sectionsOf(def.name),
      })
    await def.preflight?.({ settings, options, args, privatePaths })
    const level = def.noLogFile ? 'silent' : settings.logLevel
    log = createCommandLog(settings.logsDir, def.name, level, (line) => process.stderr.write(`${line}\n`))
    log.info({ args: redactSecrets(args), argv: redactSecrets(process.argv.slice(2)) }, 'start')
    const out = (line: string): void => {
      if (!json) process.stdout.write(`${line}\n`)
    }
    const err = (line: string): void => {
      process.stderr.write(`${line}\n`)
    }
    const code = await def.run({
      settings,
      options,
      args,
      json,
      log,
      privatePaths,
      signal: controller.signal,
      out,
      err,
    })
    if (outputLost !== undefined) throw new P2PError('E_IO', `writing the output failed (${outputLost})`)
    log.info({ code }, 'exit')
    return code
  } catch (error) {
    return reportFailure(error, json, log, def.afterInterrupt)
  } finally {
    // The late handler first: with no listener left for a moment, the signal's default action (death) is back.
    commandEnded()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    onOutputError(undefined) // later write errors (of the last lines) are ignored, never a crash
  }
}

/** The command line as logged: a private swarm's secret (`--secret`, a link's `secret=`, a `psk1-` key) never reaches a log file. */
export function redactSecrets(argv: readonly string[]): string[] {
  // A secret file's path is no secret, but a secret given there by mistake is.
  return argv.map((arg, i) =>
    argv[i - 1] === '--secret' || argv[i - 1] === '--secret-file'
      ? '<secret>'
      : /^--secret(-file)?=/.test(arg)
        ? `${arg.slice(0, arg.indexOf('='))}=<secret>`
        : isShareLink(arg) && !parses(arg)
          ? quotableLink(arg) // a damaged link: a secret may follow under a mistyped name (`password=`)
          : withoutSecrets(arg),
  )
}

function parses(link: string): boolean {
  try {
    parseShareLink(link)
    return true
  } catch {
    return false
  }
}

/**
 * Commander's error text with the value of every quoted `--option=value` taken out, to the line's end (a mistyped
 * `--secret=`; a passphrase may hold an apostrophe, so the closing quote is no end).
 */
export function withoutOptionValues(text: string): string {
  return withoutSecrets(text.replace(/'(-{1,2}[^'=\s]*)=[^\n]*/g, "'$1=…'"))
}

/**
 * One red line, a yellow one for a stop the user asked for (and a JSON object with --json); the stack goes to the log
 * only. The message is made printable (it may quote a peer, a file name or a
 * path): no escape sequence reaches the terminal, nor a later `jq -r`.
 */
export function reportFailure(
  error: unknown,
  json: boolean,
  log?: Logger,
  afterInterrupt = 'run the same command again to resume',
): number {
  const failure =
    error instanceof P2PError
      ? error
      : new P2PError(
          'E_INTERNAL',
          `internal error: ${(error as Error)?.message ?? String(error)} (see the log file; please report it)`,
        )
  if (log) {
    if (failure.code === 'E_INTERNAL') log.error({ err: error }, 'internal error')
    else log.warn({ code: failure.code, err: withoutSecrets(failure.message) }, 'failed')
  }
  // A message may quote what the user typed, a secret in the wrong place included.
  const message = printable(withoutSecrets(failure.message))
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, code: failure.code, message })}\n`)
  // Not after a stop where nothing was begun (a prompt cancelled): there is nothing to resume.
  const stopped = hasCode(failure, 'E_INTERRUPTED')
  const hint = stopped && !failure.details?.nothingBegun ? ` — ${afterInterrupt}` : ''
  // A Ctrl-C is what the user asked for, not a failure: said as such (its code and exit status stay).
  const label = stopped ? chalk.yellow('Stopped:') : chalk.red('Error:')
  process.stderr.write(`${label} ${message}${hint} [${failure.code}]\n`)
  return failure.exitCode
}

/** Commander's error text as it may reach the terminal: no option's value, nothing a terminal acts on, line by line. */
export function parserMessage(text: string): string {
  return withoutOptionValues(text)
    .split('\n')
    .map((line) => printable(line))
    .join('\n')
}

/**
 * Flags given on the command line that only `enabler` reads: refused without it (E_USAGE naming them and `why`),
 * as they would run and do nothing (UX audits: a download's `--port 48099 --upload-slots 2` without `--seed`, a
 * split's `--secret-file` without `--with-secret`). The environment and config files may hold them for other
 * commands: only the command line is read.
 */
export function onlyWith(
  options: Record<string, unknown>,
  enabler: { key: string; flag: string },
  specs: Readonly<Record<string, { flag: string }>>,
  why: string,
): void {
  if (options[enabler.key] === true) return
  const given = Object.entries(specs).flatMap(([key, spec]) => (options[key] !== undefined ? [`--${spec.flag}`] : []))
  if (given.length > 0) throw new P2PError('E_USAGE', `${given.join(', ')}: only with --${enabler.flag} (${why})`)
}
