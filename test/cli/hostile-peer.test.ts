import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { encodeAnnouncements } from '../../src/core/discovery/announcement.js'
import { FrameDecoder, encodeFrame } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'
import { randomFile, sha256File, tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, runDownload, split, startSeeder } from '../helpers/swarm.js'

interface Receipt { peers: Array<{ peer: string; bytes: number; banned?: string }> }

/**
 * A peer that speaks the protocol but lies: it announces every chunk, answers
 * chunk requests with random bytes of the right length, and (optionally)
 * serves a forged manifest.
 */
async function startLiar(t: Cleanup, o: { udpPort: number; id: string; name: string; size: number; chunks: number; manifest: Buffer; forgeManifest?: boolean }) {
  let chunkRequests = 0
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    const decoder = new FrameDecoder({ maxHeaderBytes: 16384, maxBodyBytes: 0 })
    socket.on('error', () => undefined)
    socket.on('data', (segment) => {
      for (const { header } of decoder.push(segment)) {
        if (header.type === 'manifest') {
          const body = o.forgeManifest ? Buffer.concat([o.manifest.subarray(0, -2), Buffer.from(' }')]) : o.manifest
          socket.write(encodeFrame({ type: 'manifest', id: o.id }, body))
        } else {
          chunkRequests++
          const index = header.index as number
          const length = Math.min(65536, o.size - index * 65536)
          socket.write(encodeFrame({ type: 'chunk', id: o.id, index }, randomBytes(length)))
        }
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const udp = createSocket({ type: 'udp4', reuseAddr: true })
  await new Promise<void>((resolve) => udp.bind(0, () => resolve()))
  udp.setBroadcast(true)
  const [datagram] = encodeAnnouncements('1ia71ia71ia71ia7', port, [{ id: o.id, name: o.name, size: o.size, have: Bitfield.full(o.chunks) }])
  const timer = setInterval(() => udp.send(datagram!, o.udpPort, BROADCAST), 100)
  onCleanup(t, async () => {
    clearInterval(timer)
    udp.close()
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { port, requests: () => chunkRequests }
}

async function honestAndLiar(t: Cleanup, forgeManifest: boolean) {
  const dir = await tmpDir(t)
  const udp = await freeUdpPort()
  const size = 64 * 65536
  const sha = await randomFile(join(dir, 'target.bin'), size)
  const { id } = await split(join(dir, 'honest'), join(dir, 'target.bin'), ['--chunk-size', '64KiB'])
  const manifest = await readFile(join(dir, 'honest', 'chunks', 'target.bin', 'manifest.json'))
  const liar = await startLiar(t, { udpPort: udp, id, name: 'target.bin', size, chunks: 64, manifest, forgeManifest })
  // The liar is the only peer when the download starts; the honest seeder joins a moment later.
  const download = runDownload(join(dir, 'd'), udp, ['target.bin', '--window', '4'])
  await new Promise((r) => setTimeout(r, 1000))
  await startSeeder(t, join(dir, 'honest'), udp)
  const r = await download
  return { dir, sha, liar, r }
}

describe('a hostile peer beside an honest seeder', () => {
  it('bad chunks are detected and fetched elsewhere; the liar is banned; the file is identical', async (t) => {
    const { dir, sha, liar, r } = await honestAndLiar(t, false)
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    const receipt = r.result as unknown as Receipt
    const banned = receipt.peers.filter((p) => p.banned)
    assert.equal(banned.length, 1, JSON.stringify(receipt.peers))
    assert.match(banned[0]!.banned!, /failed SHA-256/)
    assert.equal(banned[0]!.bytes, 0)
    assert.ok(liar.requests() >= 3)
    // No bad chunk ever reached the store.
    for (let i = 0; i < 64; i++) {
      const chunk = await readFile(join(dir, 'd', 'chunks', 'target.bin', `${String(i).padStart(6, '0')}.chunk`))
      assert.deepEqual(chunk, await readFile(join(dir, 'honest', 'chunks', 'target.bin', `${String(i).padStart(6, '0')}.chunk`)))
    }
  })

  it('a forged manifest is refused and its sender banned', async (t) => {
    const { dir, sha, liar, r } = await honestAndLiar(t, true)
    assert.equal(r.code, 0, r.log)
    assert.equal(await sha256File(join(dir, 'd', 'downloads', 'target.bin')), sha)
    assert.equal(liar.requests(), 0)
    assert.ok((r.result as unknown as Receipt).peers.some((p) => p.banned?.includes('manifest')))
  })
})
