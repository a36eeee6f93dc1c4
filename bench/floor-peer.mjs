#!/usr/bin/env node
// One host of the thinnest swarm Node can run (bench/swarm.mjs --tools
// node-floor): what any Node program pays to move, check and store the
// round's bytes, with nothing of p2pshare in it. The seeder pushes chunk c
// to downloader c mod N, once; a downloader checks each chunk it receives
// (SHA-256 against the list it was given), writes it at its offset, and
// passes the seeder's chunks on to every other downloader. So the seeder
// sends the file once, every downloader receives it once and sends
// (N − 1) / N of it: the least traffic any swarm can have. Plain TCP (no
// cipher), no requests, no discovery, no schedule, no retries, and the
// kernel reads each chunk straight into the buffer it is hashed and
// written from (net's `onread`): a floor to measure against, not a tool.
//
// Every connection is opened by the side that receives on it, and says
// first which downloader it is (4 bytes). A frame: 4 bytes (the chunk's
// index, the top bit set when the receiver is to pass it on), then the
// chunk. A downloader connects to every other one first and to the seeder
// last, once every other one has connected to it: so no chunk it passes on
// can miss a downloader.
//
// node floor-peer.mjs '<json>'   {role: 'seeder'|'peer', file, size, chunk,
//   port, peers: [address, …], seeder (its address), me (peer: its index),
//   hashes (peer: a JSON file of hex digests), done (peer: a file that gets
//   Date.now() once all chunks are written)}
import { createHash } from 'node:crypto'
import { open, readFile, rename, writeFile } from 'node:fs/promises'
import net from 'node:net'

const config = JSON.parse(process.argv[2])
const { size, chunk, port, peers } = config
const count = Math.ceil(size / chunk)
const lengthOf = (index) => Math.min(chunk, size - index * chunk)
const PASS_ON = 0x80000000

function fail(message) {
  console.error(`floor-peer: ${message}`)
  process.exit(1)
}

const word = (value) => {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(value >>> 0)
  return b
}

/** Chunk buffers for reuse, so that no chunk costs fresh pages (p2pshare pools its buffers too). */
const free = []
const take = (length) => (free.pop() ?? Buffer.allocUnsafeSlow(chunk)).subarray(0, length)
/** A buffer used by `users` writes, back in the pool once the last is done. */
function sharedBy(users, body) {
  let left = users
  return () => {
    if (--left === 0) free.push(Buffer.from(body.buffer, body.byteOffset, chunk))
  }
}

/** Write a frame (`done` once the socket has sent it); resolves once the socket will take more. */
function send(socket, index, passOn, body, done) {
  socket.write(word(index | (passOn ? PASS_ON : 0)))
  return socket.write(body, done) ? undefined : new Promise((r) => socket.once('drain', r))
}

/** The first 4 bytes an accepted connection sends: which downloader it is. */
function whoConnected(socket) {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0)
    const onData = (data) => {
      got = Buffer.concat([got, data])
      if (got.length < 4) return
      socket.off('data', onData)
      socket.pause()
      resolve(got.readUInt32BE(0))
    }
    socket.on('data', onData)
  })
}

async function seed() {
  const file = await open(config.file, 'r')
  const server = net.createServer({ noDelay: true }, async (socket) => {
    socket.on('error', (err) => fail(`seeder's connection: ${err.message}`))
    const me = await whoConnected(socket)
    for (let index = me; index < count; index += peers.length) {
      const body = take(lengthOf(index))
      await file.read(body, 0, body.length, index * chunk)
      await send(socket, index, true, body, sharedBy(1, body))
    }
    socket.end()
  })
  server.listen(port, config.seeder)
}

/**
 * A connection on which this downloader receives: the kernel reads each
 * frame's header and then its chunk straight into their buffers.
 */
function receiveFrom(address, onChunk) {
  const deadline = Date.now() + 30_000
  return new Promise((resolve) => {
    const attempt = () => {
      const header = Buffer.allocUnsafe(4)
      let body
      let index = 0
      let passOn = false
      let have = 0
      const socket = net.connect({
        host: address,
        port,
        noDelay: true,
        onread: {
          buffer: () => (body === undefined ? header.subarray(have) : body.subarray(have)),
          callback: (n) => {
            have += n
            if (body === undefined) {
              if (have < 4) return
              const value = header.readUInt32BE(0)
              passOn = value >= PASS_ON
              index = value & ~PASS_ON
              if (index >= count) fail(`chunk index ${index} out of range`)
              body = take(lengthOf(index))
            } else {
              if (have < body.length) return
              onChunk(index, body, passOn, socket)
              body = undefined
            }
            have = 0
          },
        },
      })
      socket.once('connect', () => {
        socket.write(word(config.me))
        socket.on('error', () => undefined) // a peer leaving once the round is over
        resolve(socket)
      })
      socket.once('error', (err) => {
        if (socket.connecting === false && socket.bytesRead > 0) return
        if (Date.now() > deadline) fail(`cannot connect to ${address}: ${err.message}`)
        setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

async function peer() {
  const hashes = JSON.parse(await readFile(config.hashes, 'utf8'))
  const out = await open(config.file, 'w')
  const others = peers.length - 1
  const receivers = []
  let written = 0
  let passing = Promise.resolve()
  /** A checked chunk: written, and passed on to every other downloader when the seeder sent it. */
  function onChunk(index, body, passOn, source) {
    const digest = createHash('sha256').update(body).digest('hex')
    if (digest !== hashes[index]) fail(`chunk ${index}: SHA-256 mismatch`)
    const release = sharedBy(1 + (passOn ? receivers.length : 0), body)
    out.write(body, 0, body.length, index * chunk).then(async () => {
      release()
      if (++written !== count) return
      // Renamed into place: the bench reads the time as soon as the name exists.
      await writeFile(`${config.done}.tmp`, String(Date.now()))
      await rename(`${config.done}.tmp`, config.done)
    }, fail)
    if (!passOn) return
    // The seeder's connection pauses until every other downloader's socket takes more.
    source.pause()
    passing = passing
      .then(() => Promise.all(receivers.map((s) => send(s, index, false, body, release))))
      .then(() => source.resume())
  }
  let allConnected
  const everyone = new Promise((r) => {
    allConnected = r
  })
  if (others === 0) allConnected()
  const server = net.createServer({ noDelay: true }, async (socket) => {
    socket.on('error', () => undefined)
    await whoConnected(socket)
    receivers.push(socket)
    if (receivers.length === others) allConnected()
  })
  await new Promise((resolve) => server.listen(port, peers[config.me], resolve))
  await Promise.all(peers.filter((_, j) => j !== config.me).map((a) => receiveFrom(a, onChunk)))
  await everyone
  await receiveFrom(config.seeder, onChunk)
}

if (config.role === 'seeder') await seed()
else await peer()
