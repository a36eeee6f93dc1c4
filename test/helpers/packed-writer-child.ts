import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { PackedWriter } from '../../src/core/download/packed-writer.js'
import { type Manifest, manifestId } from '../../src/core/manifest.js'
import { writerVouchPath } from '../../src/core/writer-vouch.js'

/**
 * A download's writer in a process of its own, driven line by line over
 * stdin (`write <index>`, `finish`, `close`), answering each line on stdout once done:
 * the other process a p2p-serve beside a download sees. Arguments: the
 * entry's directory, downloads/, the manifest's JSON, and the source file
 * the chunks are cut from.
 */
const [entryDir, downloadsDir, manifestPath, sourcePath] = process.argv.slice(2) as [string, string, string, string]
const manifestBytes = await readFile(manifestPath)
const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest
const source = await readFile(sourcePath)
const writer = await PackedWriter.open({
  entryDir,
  downloadsDir,
  manifest,
  id: manifestId(manifestBytes),
  publishMs: 0,
})
process.stdout.write('open\n')
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(' ')
  if (command === 'write') {
    const index = Number(arg)
    const chunk = source.subarray(index * manifest.chunkSize, (index + 1) * manifest.chunkSize)
    const { outcome } = await writer.verifyAndWrite(index, chunk, manifest.chunks[index]!)
    writer.accept(index, chunk)
    process.stdout.write(`${outcome} ${index}\n`)
  } else if (command === 'finish') {
    let vouchAtFinalName = true
    const beforeFinalName = (): void => {
      vouchAtFinalName = existsSync(writerVouchPath(entryDir))
    }
    await writer.finish({ beforeFinalName })
    process.stdout.write(`finished, vouch at the final name: ${vouchAtFinalName}\n`)
  } else if (command === 'close') {
    await writer.close()
    process.stdout.write('closed\n')
  }
}
