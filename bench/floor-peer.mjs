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
// With `sealed` (--tools node-floor-sealed) every connection's bytes go in
// records as p2pshare's encrypted transport sends them (records.ts: 64 KiB
// of plaintext each, libsodium's secretstream XChaCha20-Poly1305, a 3-byte
// length), so each hop pays one encryption and one decryption of the chunk:
// the sender seals into pooled buffers, the receiver reads each record into
// one reused buffer and decrypts it into the chunk's buffer. The stream's
// key and header go in the clear at the start: the cost per byte is what is
// measured, not a handshake.
//
// With `whole` (--tools node-floor-checked, sealed too) each downloader also
// checks the whole file's SHA-256 against `whole`, as p2p-download must
// (docs/protocol.md §1; whole-file-hash.ts): in chunk order, a chunk hashed
// from its buffer when it is the next one, one that came early read back
// from the file when its turn comes. The floor of p2pshare's protocol, not
// only of its transport.
//
// With `direct` (every swarm floor, and the loopback bench's pair) chunks are
// written past the page cache, as p2p-download writes them (direct-io.ts);
// with `whole` too, a chunk that came early is read back past it as well.
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
//   Date.now() once all chunks are written), sealed (optional: records),
//   whole (optional: the whole file's SHA-256, hex, to check), direct
//   (optional, peer: chunks written, and with `whole` read back, past the
//   page cache, and the file synced once all are written, as p2p-download
//   does), exit (optional:
//   a peer exits once done, a seeder once its connection closes, printing
//   its CPU-seconds as a JSON line; for the loopback bench)}
// The seeder prints one JSON line once it listens.
import { createHash } from 'node:crypto'
import { constants, readSync } from 'node:fs'
import { open, readFile, rename, writeFile } from 'node:fs/promises'
import net from 'node:net'
import sodium from 'sodium-native'

const config = JSON.parse(process.argv[2])
const { size, chunk, port, peers, sealed } = config
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

/**
 * Chunk buffers for reuse, so that no chunk costs fresh pages (p2pshare pools its buffers too); page-aligned
 * (a WebAssembly memory starts on a page) when they are written direct, as O_DIRECT wants.
 */
const free = []
const aligned = () =>
  Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(chunk / 65536), maximum: Math.ceil(chunk / 65536) }).buffer)
const take = (length) => (free.pop() ?? (config.direct ? aligned() : Buffer.allocUnsafeSlow(chunk))).subarray(0, length)
/** A buffer used by `users` writes, back in the pool once the last is done. */
function sharedBy(users, body) {
  let left = users
  return () => {
    if (--left === 0) free.push(Buffer.from(body.buffer, body.byteOffset, chunk))
  }
}

/** Write a frame (`done` once the socket has sent it); resolves once the socket will take more. */
function send(socket, index, passOn, body, done) {
  const header = word(index | (passOn ? PASS_ON : 0))
  if (sealed) return sendSealed(socket, header, body, done)
  socket.write(header)
  return socket.write(body, done) ? undefined : new Promise((r) => socket.once('drain', r))
}

const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
const RECORD = 64 * 1024
const TAG = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
const sealedLength = (plain) => plain + Math.max(1, Math.ceil(plain / RECORD)) * (3 + ABYTES)
const freeSealed = []

/** Open the sending direction of a sealed connection: its key and stream header, in the clear. */
function startSealing(socket) {
  const opening = Buffer.allocUnsafe(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES + 24)
  const key = opening.subarray(0, sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES)
  sodium.randombytes_buf(key)
  socket.sealState = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  sodium.crypto_secretstream_xchacha20poly1305_init_push(socket.sealState, opening.subarray(key.length), key)
  socket.write(opening)
}

/** Seal `plain` into `out` at `at` as records of at most RECORD bytes; returns where they end. */
function sealInto(state, plain, out, at) {
  let from = 0
  do {
    const take = Math.min(RECORD, plain.length - from)
    out.writeUIntLE(take + ABYTES, at, 3)
    const record = out.subarray(at + 3, at + 3 + take + ABYTES)
    sodium.crypto_secretstream_xchacha20poly1305_push(state, record, plain.subarray(from, from + take), null, TAG)
    at += 3 + take + ABYTES
    from += take
  } while (from < plain.length)
  return at
}

function sendSealed(socket, header, body, done) {
  const out = freeSealed.pop() ?? Buffer.allocUnsafeSlow(sealedLength(4) + sealedLength(chunk))
  const end = sealInto(socket.sealState, body, out, sealInto(socket.sealState, header, out, 0))
  const ok = socket.write(out.subarray(0, end), () => {
    freeSealed.push(out)
    done()
  })
  return ok ? undefined : new Promise((r) => socket.once('drain', r))
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
    if (config.exit)
      socket.on('close', () => {
        const { user, system } = process.cpuUsage()
        console.log(JSON.stringify({ cpu: (user + system) / 1e6 }))
        process.exit(0)
      })
    const me = await whoConnected(socket)
    if (sealed) startSealing(socket)
    for (let index = me; index < count; index += peers.length) {
      const body = take(lengthOf(index))
      await file.read(body, 0, body.length, index * chunk)
      await send(socket, index, true, body, sharedBy(1, body))
    }
    socket.end()
  })
  // Port 0 (the loopback bench): the system's choice, which the line gives the downloader.
  server.listen(port, config.seeder, () => console.log(JSON.stringify({ listening: server.address().port })))
}

/** What O_DIRECT wants of a range here: a length and an offset in whole blocks (the buffer: `aligned()`). */
const DIRECT_BLOCK = 4096
const fitsDirect = (length, at) => length % DIRECT_BLOCK === 0 && at % DIRECT_BLOCK === 0

/** `path` opened O_DIRECT, or undefined where the filesystem refuses it (tmpfs): then writes and reads go buffered. */
async function openDirect(path) {
  try {
    return await open(path, constants.O_RDWR | constants.O_DIRECT)
  } catch (err) {
    if (err.code === 'EINVAL') return undefined
    throw err
  }
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
        onread: sealed
          ? sealedReader(onChunk, () => socket)
          : {
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

/**
 * A sealed connection's reads: its opening (key and stream header), then
 * records, each read whole into one reused buffer (its 3-byte length first)
 * and decrypted into the frame's 4-byte header or straight into the chunk.
 */
function sealedReader(onChunk, socketOf) {
  const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  const tag = Buffer.alloc(1)
  const opening = Buffer.allocUnsafe(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES + 24)
  const length = Buffer.allocUnsafe(3)
  const record = Buffer.allocUnsafeSlow(RECORD + ABYTES)
  const header = Buffer.allocUnsafe(4)
  let phase = 'opening'
  let want = opening
  let have = 0
  let body
  let filled = 0
  let index = 0
  let passOn = false
  const onRecord = () => {
    const plain = want.length - ABYTES
    const into = body === undefined ? header : body.subarray(filled, filled + plain)
    if (into.length !== plain) fail('a record does not fit its frame')
    sodium.crypto_secretstream_xchacha20poly1305_pull(state, into, tag, want, null)
    if (body === undefined) {
      const value = header.readUInt32BE(0)
      passOn = value >= PASS_ON
      index = value & ~PASS_ON
      if (index >= count) fail(`chunk index ${index} out of range`)
      body = take(lengthOf(index))
      filled = 0
      return
    }
    filled += plain
    if (filled < body.length) return
    onChunk(index, body, passOn, socketOf())
    body = undefined
  }
  return {
    buffer: () => want.subarray(have),
    callback: (n) => {
      have += n
      if (have < want.length) return
      have = 0
      if (phase === 'opening') {
        const key = opening.subarray(0, sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES)
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, opening.subarray(key.length), key)
        phase = 'length'
        want = length
      } else if (phase === 'length') {
        const n = length.readUIntLE(0, 3)
        if (n < ABYTES || n > record.length) fail(`a record of ${n} bytes`)
        phase = 'record'
        want = record.subarray(0, n)
      } else {
        onRecord()
        phase = 'length'
        want = length
      }
    },
  }
}

/**
 * The whole file's SHA-256 in chunk order over chunks that arrive and are written in any order (`fd`: the file,
 * open for reading): a chunk is hashed from its buffer when it arrives in its turn (always, from one seeder), and
 * one that came early is read back from the file in its turn, once it is written: past the page cache through
 * `directFd` when the chunks are written so (as p2p-download reads back what it wrote direct).
 */
function wholeFileHash(fd, directFd) {
  const hash = createHash('sha256')
  const ahead = new Set()
  const written = new Set()
  const back = directFd === undefined ? Buffer.allocUnsafe(chunk) : aligned()
  const readBack = (length, at) => {
    if (directFd === undefined || !fitsDirect(length, at)) return readSync(fd, back, 0, length, at)
    try {
      return readSync(directFd, back, 0, length, at)
    } catch (err) {
      if (err.code !== 'EINVAL') throw err
      return readSync(fd, back, 0, length, at) // refused at the read: buffered, as direct-io.ts falls back
    }
  }
  let next = 0
  const catchUp = () => {
    while (ahead.has(next) && written.has(next)) {
      ahead.delete(next)
      written.delete(next)
      const length = lengthOf(next)
      if (readBack(length, next * chunk) !== length) fail(`chunk ${next}: short read back`)
      hash.update(back.subarray(0, length))
      next++
    }
  }
  return {
    /** Chunk `index` arrived, checked; `body` is its bytes, valid during the call. */
    arrived(index, body) {
      if (index !== next) return ahead.add(index)
      hash.update(body)
      next++
      catchUp()
    },
    /** Chunk `index` is in the file. */
    written(index) {
      if (!ahead.has(index)) return
      written.add(index)
      catchUp()
    },
    digest: () => hash.digest('hex'),
  }
}

async function peer() {
  const hashes = JSON.parse(await readFile(config.hashes, 'utf8'))
  const out = await open(config.file, config.whole ? 'w+' : 'w')
  const direct = config.direct ? await openDirect(config.file) : undefined
  const write = (body, at) => {
    const buffered = () => out.write(body, 0, body.length, at)
    if (!direct || !fitsDirect(body.length, at)) return buffered() // a short last chunk
    return direct.write(body, 0, body.length, at).catch((err) => {
      if (err.code !== 'EINVAL') throw err
      return buffered() // refused at the write (as direct-io.ts falls back)
    })
  }
  const whole = config.whole ? wholeFileHash(out.fd, direct?.fd) : undefined
  const others = peers.length - 1
  const receivers = []
  let written = 0
  let received = 0
  /** Every chunk is in the file: checked whole, synced, and the time written for the bench. */
  const finish = async () => {
    if (whole && whole.digest() !== config.whole) fail('the whole file: SHA-256 mismatch')
    if (config.direct) await out.sync()
    // Renamed into place: the bench reads the time as soon as the name exists.
    await writeFile(`${config.done}.tmp`, String(Date.now()))
    await rename(`${config.done}.tmp`, config.done)
    if (config.exit) process.exit(0)
  }
  let passing = Promise.resolve()
  /** A checked chunk: written, and passed on to every other downloader when the seeder sent it. */
  function onChunk(index, body, passOn, source) {
    const digest = createHash('sha256').update(body).digest('hex')
    if (digest !== hashes[index]) fail(`chunk ${index}: SHA-256 mismatch`)
    received++
    whole?.arrived(index, body)
    const release = sharedBy(1 + (passOn ? receivers.length : 0), body)
    write(body, index * chunk).then(() => {
      whole?.written(index)
      release()
      if (++written === count) return finish()
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
    if (sealed) startSealing(socket)
    receivers.push(socket)
    if (receivers.length === others) allConnected()
  })
  await new Promise((resolve) => server.listen(port, peers[config.me], resolve))
  await Promise.all(peers.filter((_, j) => j !== config.me).map((a) => receiveFrom(a, onChunk)))
  await everyone
  const fromSeeder = await receiveFrom(config.seeder, onChunk)
  if (count === 0) return finish() // an empty file: nothing will come
  // Alone with the seeder (the loopback bench), nothing else would end this process if it left early.
  if (config.exit)
    fromSeeder.on('close', () => {
      if (received < count) fail(`the seeder's connection closed after ${received} of ${count} chunks`)
    })
}

if (config.role === 'seeder') await seed()
else await peer()
