#!/usr/bin/env node
// The runtime's best case for moving a file over loopback TCP: plain socket
// piping between two Node processes, no protocol, no hashing.
//   node bench/tcp-copy.mjs send FILE   → prints {"port":N}, serves one connection
//   node bench/tcp-copy.mjs recv PORT   → reads everything, discards it, exits
import { createReadStream } from 'node:fs'
import { connect, createServer } from 'node:net'

const [mode, arg] = process.argv.slice(2)
if (mode === 'send') {
  const server = createServer((socket) => {
    createReadStream(arg, { highWaterMark: 1 << 20 }).pipe(socket)
    socket.on('close', () => server.close())
  })
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
} else if (mode === 'recv') {
  // Reads into one reused buffer (as PeerClient does): fresh buffers per read cost page faults on this VM.
  let bytes = 0
  const socket = connect({
    port: Number(arg),
    host: '127.0.0.1',
    onread: {
      buffer: Buffer.allocUnsafe(256 * 1024),
      callback: (n) => {
        bytes += n
        return true
      },
    },
  })
  socket.on('end', () => {
    process.stderr.write(`${bytes}\n`)
  })
} else {
  console.error('usage: tcp-copy.mjs send FILE | recv PORT')
  process.exit(2)
}
