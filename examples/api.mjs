#!/usr/bin/env node
// p2pshare as a library, in one program: a seeder splits a file, serves it and
// announces it; a downloader finds it on the LAN and downloads it, verified to
// the byte. Everything on this machine: broadcast 127.255.255.255, free ports.
//   npm run build && node examples/api.mjs
import { createHash, randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createAnnouncer,
  createChunkServer,
  createPeerDirectory,
  download,
  openStore,
  P2PError,
  splitFile,
} from 'p2pshare'

const BROADCAST = '127.255.255.255' // loopback's broadcast address: this machine only

/** A UDP port nobody uses now, for discovery (announcers and listeners share it). */
async function freeUdpPort() {
  const socket = createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  const { port } = socket.address()
  socket.close()
  return port
}

/** SHA-256 of a file, streamed. */
async function sha256Of(path) {
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path)) hash.update(piece)
  return hash.digest('hex')
}

const work = await mkdtemp(join(tmpdir(), 'p2pshare-api-'))
try {
  const file = join(work, 'hello.bin')
  await writeFile(file, randomBytes(3 * 1024 * 1024 + 17))
  const udpPort = await freeUdpPort()

  // The seeder: split the file into its chunk store, serve the store over TCP, announce it over UDP.
  const seederStore = await openStore({ dir: join(work, 'seeder-chunks') })
  const shared = await splitFile(file, { store: seederStore, chunkSize: 256 * 1024 })
  const server = createChunkServer({ store: seederStore, host: '127.0.0.1', port: 0 })
  const { port } = await server.listen()
  const announcer = createAnnouncer({
    store: seederStore,
    udpPort,
    tcpPort: port,
    broadcast: [BROADCAST],
    intervalMs: 1000,
  })
  await announcer.start()
  console.log(`sharing ${shared.name} (${shared.size} bytes, ${shared.chunks} chunks) as ${shared.id}`)

  // The downloader: its own store, a peer directory (its discovery listener asks for our id), then the download.
  const store = await openStore({ dir: join(work, 'downloader-chunks') })
  const peers = createPeerDirectory({ udpPort, broadcast: [BROADCAST], staleAfterMs: 15_000, want: { id: shared.id } })
  await peers.start()
  try {
    const receipt = await download({
      id: shared.id,
      store,
      downloadsDir: join(work, 'downloads'),
      peers,
      signal: AbortSignal.timeout(60_000), // any AbortSignal stops it; a later download resumes
      onProgress: (p) => {
        if (process.stdout.isTTY)
          process.stdout.write(`\r${p.doneBytes} / ${p.size} bytes from ${p.peersInUse} peer(s) `)
      },
    })
    if (process.stdout.isTTY) process.stdout.write('\n')
    console.log(`downloaded ${receipt.path} in ${receipt.seconds.toFixed(2)} s`)
    const [source, copy] = await Promise.all([sha256Of(file), sha256Of(receipt.path)])
    if (source !== copy || copy !== receipt.sha256) throw new Error(`${receipt.path} differs from the source`)
    console.log(`identical to the source: sha256 ${copy}`)
  } catch (err) {
    // Every failure is a P2PError with a stable code (docs/errors.md).
    if (err instanceof P2PError) console.error(`download failed: ${err.message} [${err.code}]`)
    throw err
  } finally {
    await peers.stop()
    await announcer.stop({ goodbye: true }) // tells the LAN this peer is leaving
    await server.close()
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
