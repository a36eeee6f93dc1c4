import chalk from 'chalk'
import { type Command, CommanderError } from 'commander'
import { printable } from '../index.js'
import { parserMessage, reportFailure, withoutOptionValues } from './common.js'
import { watchOutput } from './process-handlers.js'
import { packageVersion } from './version.js'

/**
 * Commander's own errors (unknown option, missing argument) exit 2, as E_USAGE (its JSON object with --json);
 * --help and --version exit 0. What they quote is made printable: a file name given where an option was read
 * as one put its escape sequences on the terminal (an attacker pass, forty-sixth session).
 */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  // chalk reads FORCE_COLOR and the terminal, not NO_COLOR (no-color.org): any value but empty turns colour off.
  if (process.env.NO_COLOR) chalk.level = 0
  const version = packageVersion()
  const configure = (cmd: Command): void => {
    cmd.exitOverride()
    cmd.version(version, '-V, --version', 'print the version and exit')
    // One line as every other error says it, its code last (commander's own reads "error: …", and puts a "Did you
    // mean" on a line of its own). Commander quotes a mistyped option whole (`--secrte=correct horse…`): never its
    // value.
    cmd.configureOutput({
      outputError: (text, write) => write(`${chalk.red('Error:')} ${oneLine(text)} [E_USAGE]\n`),
    })
    cmd.commands.forEach(configure)
  }
  configure(program)
  watchOutput() // before anything is written: `p2p-serve --help | head` must not die on EPIPE
  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      const failed = !(
        error.exitCode === 0 ||
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version'
      )
      if (failed && argv.includes('--json')) {
        const message = parserMessage(error.message.replace(/^error: /, '')).replace(/\n/g, ' ')
        process.stdout.write(`${JSON.stringify({ ok: false, code: 'E_USAGE', message })}\n`)
      }
      process.exitCode = failed ? 2 : 0
      return
    }
    process.exitCode = reportFailure(error, argv.includes('--json'))
  }
}

/**
 * A parser error as one line: its suggestion, if any, else where to find usage. Commander puts the suggestion on a
 * line of its own, last; the rest may quote the user's own text, newlines and all, which are shown escaped, as the
 * user typed them (a review: a newline in a mistyped option read as a space).
 */
function oneLine(text: string): string {
  const raw = text.replace(/^error: /, '').trimEnd()
  const at = raw.lastIndexOf('\n(Did you mean ')
  const said = printable(withoutOptionValues(at < 0 ? raw : raw.slice(0, at)))
  if (at < 0) return `${said} (run with --help for usage and examples)`
  return `${said} ${printable(raw.slice(at + 1)).replace('(Did you mean', '(did you mean')}`
}
