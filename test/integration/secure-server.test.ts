import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { hasCode } from '../../src/core/errors.js'
import { sha256Hex } from '../../src/core/manifest.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore } from '../../src/core/store.js'
import { ChunkServer, type ServerLimits } from '../../src/core/transfer/chunk-server.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { rawClient, until } from '../helpers/raw-client.js'

/** A chunk server over the encrypted transport on loopback, serving one random file of `size` bytes. */
async function encryptedSeeder(
  t: Cleanup,
  size: number,
  options: { limits: Partial<ServerLimits>; reclaimIdleMs?: number },
): Promise<{ id: string; server: ChunkServer; port: number }> {
  const dir = await tmpDir(t)
  await randomFile(join(dir, 'a.bin'), size)
  const store = new ChunkStore(join(dir, 'chunks'))
  const { id } = await splitFile(join(dir, 'a.bin'), { store, chunkSize: 64 * 1024 })
  const server = new ChunkServer({
    ...{ store, host: '127.0.0.1', port: 0, ...options },
    secure: { keyPair: NoiseSecretStream.keyPair() },
  })
  const { port } = await server.listen()
  onCleanup(t, () => server.close(100))
  return { id, server, port }
}

/** The chunk server and client over the encrypted transport (real sockets, one process). */
describe('chunk server over the encrypted transport', () => {
  it('serves over Noise; a busy server says E_BUSY inside the session (not a bare close)', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 300_000, { limits: { maxConnections: 1 } })
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    const first = await PeerClient.connect({ host: '127.0.0.1', port, secure })
    onCleanup(t, () => first.close())
    assert.equal(sha256Hex(await first.fetchManifest(id)), id)
    assert.ok(first.remotePeerId)
    const second = PeerClient.connect({ host: '127.0.0.1', port, secure }).then((c) => c.fetchManifest(id))
    await assert.rejects(second, (err) => hasCode(err, 'E_BUSY'))
    assert.equal(server.stats.refusedBusy, 1)
  })

  it('a flood of connections that never finish their handshake (16 per address, the per-address cap, from several addresses) does not lock out an honest peer: the oldest silent one gives way', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 300_000, {
      limits: { maxConnections: 32, maxConnectionsPerAddress: 16 },
    })
    const flood = await Promise.all(
      Array.from({ length: 32 }, (_, i) => rawClient(t, port, { localAddress: `127.0.1.${2 + (i % 2)}` })),
    )
    assert.ok(await until(() => server.openConnections === 32, 5000), 'the flood holds every slot')
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    for (let i = 0; i < 3; i++) {
      const honest = await PeerClient.connect({ host: '127.0.0.1', port, secure })
      onCleanup(t, () => honest.close())
      assert.equal(sha256Hex(await honest.fetchManifest(id)), id)
    }
    assert.equal(server.stats.reclaimedSilent, 3)
    assert.equal(server.stats.refusedBusy, 0)
    assert.equal(flood.filter((c) => c.closed()).length, 3, 'the three oldest silent ones were closed, no more')
    assert.equal(server.openConnections, 32)
  })

  it('when full of connections that asked and went idle, a newcomer takes the slot of the one idle longest once it has been idle reclaimIdleMs', async (t) => {
    const { id, server, port } = await encryptedSeeder(t, 100_000, {
      limits: { maxConnections: 4 },
      reclaimIdleMs: 300,
    })
    const secure = { keyPair: NoiseSecretStream.keyPair() }
    const idle: PeerClient[] = []
    for (let i = 0; i < 4; i++) {
      const c = await PeerClient.connect({ host: '127.0.0.1', port, secure })
      onCleanup(t, () => c.close())
      assert.equal(sha256Hex(await c.fetchManifest(id)), id)
      idle.push(c)
    }
    await new Promise((resolve) => setTimeout(resolve, 400)) // the product's reclaimIdleMs, passed
    const newcomer = await PeerClient.connect({ host: '127.0.0.1', port, secure })
    onCleanup(t, () => newcomer.close())
    assert.equal(sha256Hex(await newcomer.fetchManifest(id)), id)
    assert.equal(server.stats.reclaimedIdle, 1)
    assert.equal(server.openConnections, 4)
  })
})
