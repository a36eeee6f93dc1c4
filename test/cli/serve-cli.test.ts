import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { sha256Hex } from '../../src/core/manifest.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { runBin } from '../helpers/cli.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { split, startDaemon, storeArgs } from '../helpers/swarm.js'

describe('p2p-serve (the built command)', () => {
  it('prints the port it picked, serves, logs to logs/serve.log, and exits 0 on SIGTERM', async (t) => {
    const dir = await tmpDir(t)
    await randomFile(join(dir, 'a.bin'), 10_000)
    const { id } = await split(dir, join(dir, 'a.bin'))
    const serve = startDaemon(t, 'p2p-serve', ['--host', '127.0.0.1', '--port', '0', '--json', ...storeArgs(dir)])
    const info = (await serve.firstLine) as { port: number; files: number }
    assert.ok(info.port > 0)
    assert.equal(info.files, 1)
    const c = await PeerClient.connect({
      host: '127.0.0.1',
      port: info.port,
      secure: { keyPair: NoiseSecretStream.keyPair() },
    })
    assert.equal(sha256Hex(await c.fetchManifest(id)), id)
    c.close()
    assert.equal(await serve.stop(), 0)
    const log = (await readFile(join(dir, 'logs', 'serve.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string })
    assert.ok(log.some((l) => l.msg === 'listening') && log.some((l) => l.msg === 'stopped'))
  })

  it('refuses bad settings with exit 2 and one line', async () => {
    for (const args of [
      ['--port', '70000'],
      ['--max-connections', '0'],
      ['--idle-timeout', 'abc'],
      ['--max-header-bytes', '1'],
    ]) {
      const r = await runBin('p2p-serve', args)
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
  })

  it("an address that is not this machine's to listen on is the setting's fault: E_USAGE, exit 2, saying what to check", async (t) => {
    const dir = await tmpDir(t)
    // 192.0.2.1: a documentation address (TEST-NET-1), no machine's; binding it sends nothing.
    const args = [
      '--host',
      '192.0.2.1',
      '--port',
      '0',
      '--json',
      '--chunks-dir',
      join(dir, 'c'),
      '--logs-dir',
      join(dir, 'l'),
    ]
    const r = await runBin('p2p-serve', args)
    assert.equal(r.code, 2, r.stderr)
    const result = JSON.parse(r.stdout) as { code: string; message: string }
    assert.equal(result.code, 'E_USAGE')
    assert.match(result.message, /EADDRNOTAVAIL.*--host/)
  })
})
