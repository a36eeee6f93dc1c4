import chalk from 'chalk'
import { openStore, portableName, printable, splitFile } from '../index.js'
import { defineCommand, pickSettings } from './common.js'
import { formatBytes, formatRate, formatSeconds } from './format.js'
import { createProgress } from './progress.js'

export const splitCommand = defineCommand({
  name: 'split',
  summary: 'split FILE into SHA-256-verified chunks and a manifest in the chunk store',
  arguments: '<file>',
  settings: pickSettings('chunksDir', 'chunkSize'),
  examples: [
    'p2p-split movie.mkv',
    'p2p-split --chunk-size 4MiB --chunks-dir /srv/p2p/chunks backup.tar',
    'p2p-split --json notes.pdf | jq -r .id',
  ],
  configure: (cmd) => cmd.option('--force', 'replace a different file of the same name in the store'),
  run: async ({ settings, options, args, json, log, signal, out }) => {
    const store = await openStore({ dir: settings.chunksDir }, { log })
    let progress: ReturnType<typeof createProgress> | undefined
    const result = await splitFile(
      args[0]!,
      {
        store,
        chunkSize: settings.chunkSize,
        force: options.force === true,
        signal,
        onProgress: (done, total) => {
          progress ??= createProgress('split', total, { json })
          progress.update(done)
        },
      },
      { log },
    ).finally(() => progress?.stop())
    if (json) {
      process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`)
      return 0
    }
    out(`${chalk.green(result.unchanged ? 'Already split:' : 'Split:')} ${printable(result.name)}`)
    out(`  id      ${result.id}`)
    out(`  size    ${formatBytes(result.size)} (${result.size} bytes)`)
    out(`  chunks  ${result.chunks} × ${formatBytes(result.chunkSize)}`)
    out(`  time    ${formatSeconds(result.seconds)} (${formatRate(result.size, result.seconds)})`)
    out(`  store   ${printable(result.dir)}`)
    const local = portableName(result.name)
    if (local !== result.name)
      out(
        chalk.yellow(
          `  note    not a portable name (Windows would refuse or misread it): downloads save it as ${printable(local)}`,
        ),
      )
    return 0
  },
})
