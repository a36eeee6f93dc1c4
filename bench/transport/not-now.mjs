#!/usr/bin/env node
// What one "not now" costs (issue 19): a request a server answers E_BUSY because its upload slots are
// taken, both ends in this process on loopback. A server with one slot; a first client (over IPv4)
// takes it, a second (over IPv6, so another address to the server) asks for a chunk for 0.8 s at a
// time and is told "not now" each time. Prints the CPU per round trip of each batch (client, server
// and the plain transport between them), the first batch warming up.
//   node bench/transport/not-now.mjs [batches]   (needs `npm run build`; loopback only)
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PeerClient } from '../../dist/src/core/transfer/client.js'
import { createChunkServer, openStore, splitFile } from '../../dist/src/index.js'

const batches = Number(process.argv[2] ?? 6)
const dir = mkdtempSync(join(tmpdir(), 'p2p-not-now-'))
try {
  const source = join(dir, 'f.bin')
  writeFileSync(source, randomBytes(1024 * 1024))
  const store = await openStore({ dir: join(dir, 'chunks') })
  const { id } = await splitFile(source, { store, chunkSize: 16 * 1024 })
  const server = createChunkServer({ store, host: '::', port: 0, limits: { uploadSlots: 1 } })
  const { port } = await server.listen()

  async function batch(ms) {
    const holder = await PeerClient.connect({ host: '127.0.0.1', port })
    const waiter = await PeerClient.connect({ host: '::1', port })
    await holder.fetchChunk(id, 0)
    let asked = 0
    const before = process.cpuUsage()
    const until = performance.now() + ms
    while (performance.now() < until) {
      try {
        await waiter.fetchChunk(id, 0)
        throw new Error('served while the only slot was taken')
      } catch (err) {
        if (err?.code !== 'E_BUSY') throw err
      }
      asked++
    }
    const cpu = process.cpuUsage(before)
    await holder.close()
    await waiter.close()
    return (cpu.user + cpu.system) / asked
  }

  const costs = []
  for (let i = 0; i < batches; i++) costs.push(await batch(800))
  console.log(JSON.stringify({ cpuMicrosecondsPerNotNow: costs.map((c) => Math.round(c)) }))
  await server.close(100)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
