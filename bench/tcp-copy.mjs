#!/usr/bin/env node
// The runtime's best case for moving a file over loopback TCP: plain socket
// piping between two Node processes, no protocol, no hashing.
//   node bench/tcp-copy.mjs send FILE   → prints {"port":N}, serves one connection, then prints {"cpu":S}
//   node bench/tcp-copy.mjs recv PORT   → reads everything, discards it, prints {"bytes":N,"cpu":S}, exits
// S: the CPU-seconds the process spent from the connection's start to its end, its start-up left out.
import { open } from 'node:fs/promises'
import { connect, createServer } from 'node:net'

const [mode, arg] = process.argv.slice(2)
if (mode === 'send') {
  // Reads into two reused buffers, one filling while the socket sends the other (fresh buffers per read cost
  // page faults on this VM, which a limit should not pay); prints its CPU-seconds once the connection closes.
  const server = createServer(async (socket) => {
    const start = process.cpuUsage()
    socket.on('close', () => {
      const { user, system } = process.cpuUsage(start)
      console.log(JSON.stringify({ cpu: (user + system) / 1e6 }))
      server.close()
    })
    const file = await open(arg, 'r')
    const buffers = [Buffer.allocUnsafeSlow(1 << 20), Buffer.allocUnsafeSlow(1 << 20)]
    const sent = [Promise.resolve(), Promise.resolve()]
    for (let i = 0; ; i ^= 1) {
      await sent[i]
      const { bytesRead } = await file.read(buffers[i], 0, buffers[i].length, null)
      if (bytesRead === 0) break
      sent[i] = new Promise((resolve) => socket.write(buffers[i].subarray(0, bytesRead), resolve))
    }
    await Promise.all(sent)
    await file.close()
    socket.end()
  })
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
} else if (mode === 'recv') {
  // Reads into one reused buffer (as PeerClient does): fresh buffers per read cost page faults on this VM.
  let bytes = 0
  let start
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
  socket.on('connect', () => {
    start = process.cpuUsage()
  })
  socket.on('end', () => {
    const { user, system } = process.cpuUsage(start)
    console.log(JSON.stringify({ bytes, cpu: (user + system) / 1e6 }))
  })
} else {
  console.error('usage: tcp-copy.mjs send FILE | recv PORT')
  process.exit(2)
}
