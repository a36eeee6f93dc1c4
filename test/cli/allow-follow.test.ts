import assert from 'node:assert/strict'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { PeerClient } from '../../src/core/transfer/client.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { onCleanup } from '../helpers/cleanup.js'
import { seeded, startDaemon, storeArgs } from '../helpers/swarm.js'

/**
 * An allow-list file edited while `p2p-serve` runs (an attacker pass,
 * fifty-first session: the file was read once, at start, and a peer struck
 * off it was still served, 3 of 3 downloads, until a restart; nothing said
 * so). Now the file is followed: a new list is in use within a few seconds,
 * and the connections of peers no longer listed are ended.
 */

const client = async (port: number, keyPair: { publicKey: Buffer; secretKey: Buffer }): Promise<PeerClient> =>
  PeerClient.connect({ host: '127.0.0.1', port, secure: { keyPair } })

async function logLine(path: string, pattern: RegExp, after: number, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const lines = (await readFile(path, 'utf8').catch(() => '')).split('\n').slice(after)
    if (lines.some((l) => pattern.test(l))) return
    if (Date.now() > deadline) throw new Error(`no ${pattern} in ${path} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const lineCount = async (path: string): Promise<number> =>
  (await readFile(path, 'utf8').catch(() => '')).split('\n').length - 1

describe('an allow-list file edited while serving (real p2p-serve, loopback)', () => {
  it('takes effect: a peer struck off is cut and refused, one added is served; an edit that cannot be used keeps the list', async (t) => {
    const { dir, id } = await seeded(t, 100_000)
    const [b, c] = [NoiseSecretStream.keyPair(), NoiseSecretStream.keyPair()]
    const allowFile = join(dir, 'allow.txt')
    const edit = async (text: string): Promise<void> => {
      await writeFile(`${allowFile}.new`, text)
      await rename(`${allowFile}.new`, allowFile) // as an editor saves it
    }
    await writeFile(allowFile, `# the team\n${formatPeerId(b.publicKey)}\n`)
    const seed = join(dir, 'seed')
    const serve = startDaemon(t, 'p2p-serve', [
      ...['--host', '127.0.0.1', '--port', '0', '--json', '--allow-file', allowFile],
      ...storeArgs(seed),
    ])
    const { port } = (await serve.firstLine) as { port: number }
    const log = join(seed, 'logs', 'serve.log')

    const listed = await client(port, b)
    onCleanup(t, () => listed.close())
    assert.ok((await listed.fetchManifest(id)).length > 0, 'b is listed: served')
    await assert.rejects(async () => (await client(port, c)).fetchManifest(id), 'c is not listed yet')

    const before = await lineCount(log)
    await edit(`${formatPeerId(c.publicKey)}\n`)
    await logLine(log, /"msg":"allow-list read again"/, before)
    await assert.rejects(listed.fetchManifest(id), 'b, struck off, is cut on its open connection')
    await assert.rejects(async () => (await client(port, b)).fetchManifest(id), 'and refused when it comes back')
    const added = await client(port, c)
    onCleanup(t, () => added.close())
    assert.ok((await added.fetchManifest(id)).length > 0, 'c, added, is served')

    const kept = await lineCount(log)
    await edit('not a peer ID\n')
    await logLine(log, /"msg":"the allow-list file was changed but cannot be used/, kept)
    assert.ok((await added.fetchManifest(id)).length > 0, 'a bad edit keeps the list in use: c still served')
  })
})
