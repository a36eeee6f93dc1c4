import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { hasCode } from '../../src/core/errors.js'
import { sha256Hex } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'

/** The chunk server and client over the encrypted transport (real sockets, one process). */
describe('chunk server over the encrypted transport', () => {
  it('serves over Noise; a busy server says E_BUSY inside the session (not a bare close)', async (t) => {
    const dir = await tmpDir(t)
    await randomFile(join(dir, 'a.bin'), 300_000)
    const store = new ChunkStore(join(dir, 'chunks'))
    const { id } = await splitFile(join(dir, 'a.bin'), { store, chunkSize: 64 * 1024 })
    const server = new ChunkServer({
      store,
      host: '127.0.0.1',
      port: 0,
      limits: { maxConnections: 1 },
      secure: { keyPair: NoiseSecretStream.keyPair() },
    })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(100))
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    const first = await PeerClient.connect({ host: '127.0.0.1', port, secure })
    onCleanup(t, () => first.close())
    assert.equal(sha256Hex(await first.fetchManifest(id)), id)
    assert.ok(first.remotePeerId)
    const second = PeerClient.connect({ host: '127.0.0.1', port, secure }).then((c) => c.fetchManifest(id))
    await assert.rejects(second, (err) => hasCode(err, 'E_BUSY'))
    assert.equal(server.stats.refusedBusy, 1)
  })
})
