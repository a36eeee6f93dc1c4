#!/usr/bin/env node
// The encrypted transport alone, to choose its implementation: SIZE bytes one way over loopback TCP
// between two processes, in 1 MiB writes (a chunk per write, as p2p-serve writes them), for
//   plain   — net.Socket, the receiver reading into one reused buffer (onread), as PeerClient does;
//   stock   — @hyperswarm/secret-stream's NoiseSecretStream on both ends;
//   ours    — SecureSocket (src/core/trust): the same handshake and wire format, our buffers;
//             the receiver offers a reused 1 MiB "body" window, as PeerClient does for a chunk.
// Prints wall time and CPU seconds on each side.
// Usage: node bench/transport.mjs [--size 1GiB] [--runs 3] [--modes plain,stock,ours] [--cpu-prof]
//   (a size takes its unit: 64MiB, 1GiB; a bare number is bytes)
//   Needs `npm run build` first. Loopback only.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { parseArgs } from 'node:util'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { exitOnHelp, parseSize } from './lib.mjs'

// The build is loaded only after --help is answered (it may not be built yet).
exitOnHelp(process.argv.slice(2), import.meta.url)
const { SecureSocket } = await import('../dist/src/core/trust/secure-socket.js')

const MiB = 1 << 20
const WRITE = MiB
const MODES = ['plain', 'stock', 'ours']

const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

// ---- child: the sender, accepting one connection (as p2p-serve does) --------------------------
async function sender(mode, size) {
  const keyPair = NoiseSecretStream.keyPair()
  const chunks = [Buffer.alloc(WRITE, 1), Buffer.alloc(WRITE, 2), Buffer.alloc(WRITE, 3), Buffer.alloc(WRITE, 4)]
  const server = createServer({ noDelay: true })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  process.send({ port: server.address().port })
  const [socket] = await once(server, 'connection')
  let stream = socket
  if (mode === 'stock') {
    stream = new NoiseSecretStream(false, socket, { keyPair })
    await stream.opened
  } else if (mode === 'ours') {
    stream = SecureSocket.accept(socket, { keyPair })
    await stream.ready
  }
  stream.on('error', () => {})
  const start = cpu()
  let sent = 0
  let i = 0
  while (sent < size) {
    const n = Math.min(WRITE, size - sent)
    const ok = stream.write(chunks[i++ % chunks.length].subarray(0, n))
    sent += n
    if (!ok) await once(stream, 'drain')
  }
  process.send({ cpu: cpu() - start })
  await once(process, 'message')
  stream.destroy()
  process.exit(0)
}

// ---- parent: the receiver, connecting (as p2p-download does) -----------------------------------
async function run(mode, size, childArgs) {
  const keyPair = NoiseSecretStream.keyPair()
  const body = Buffer.alloc(WRITE)
  let got = 0
  let started = 0
  let resolveDone
  const done = new Promise((r) => {
    resolveDone = r
  })
  const count = (n) => {
    if (started === 0) started = performance.now()
    got += n
    if (got >= size) resolveDone()
  }
  const child = fork(new URL(import.meta.url), ['--child', mode, String(size)], { execArgv: childArgs })
  const [{ port }] = await once(child, 'message')
  const cpu0 = cpu()
  let stream
  if (mode === 'plain') {
    stream = connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: body,
        callback: (n) => {
          count(n)
          return true
        },
      },
    })
  } else if (mode === 'stock') {
    stream = new NoiseSecretStream(true, connect(port, '127.0.0.1'), { keyPair })
    stream.on('data', (d) => count(d.byteLength))
  } else {
    stream = SecureSocket.connect({ host: '127.0.0.1', port }, { keyPair })
    let filled = 0
    stream.setReader({
      window: () => body.subarray(filled),
      filled: (n) => {
        filled = (filled + n) % WRITE
        count(n)
      },
    })
    stream.on('data', (d) => count(d.byteLength))
  }
  stream.on('error', () => {})
  const [senderReport] = await Promise.all([once(child, 'message').then(([m]) => m), done])
  const wall = (performance.now() - started) / 1000
  const receiverCpu = cpu() - cpu0
  child.send('bye')
  await once(child, 'exit')
  stream.destroy()
  return { mode, wall, senderCpu: senderReport.cpu, receiverCpu }
}

/** The command line, checked; a mistake is one line on stderr and exit 2. */
function options() {
  try {
    const { values } = parseArgs({
      options: {
        size: { type: 'string', default: '1GiB' },
        runs: { type: 'string', default: '3' },
        modes: { type: 'string', default: 'plain,stock,ours' },
        'cpu-prof': { type: 'boolean', default: false },
      },
    })
    const runs = Number(values.runs)
    const modes = values.modes.split(',')
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`bad --runs ${values.runs}: a whole number, 1 or more`)
    for (const m of modes) if (!MODES.includes(m)) throw new Error(`bad mode ${m}: one of ${MODES.join(', ')}`)
    return { values, size: parseSize(values.size), runs, modes }
  } catch (err) {
    console.error(`transport: ${err.message}`)
    process.exit(2)
  }
}

if (process.argv[2] === '--child') {
  await sender(process.argv[3], Number(process.argv[4]))
} else {
  const { values, size, runs, modes } = options()
  const results = {}
  for (let r = 0; r < runs; r++) {
    for (const mode of modes) {
      const res = await run(
        mode,
        size,
        values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/p2p-transport-prof'] : [],
      )
      results[mode] ??= []
      results[mode].push(res)
      console.log(
        `${mode.padEnd(6)} ${(size / MiB).toFixed(0)} MiB: wall ${res.wall.toFixed(2)} s, sender ${res.senderCpu.toFixed(2)} cpu-s, receiver ${res.receiverCpu.toFixed(2)} cpu-s`,
      )
    }
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log('medians (s per GiB):')
  for (const mode of modes) {
    const k = (1024 * MiB) / size
    const rs = results[mode]
    console.log(
      `  ${mode.padEnd(6)} wall ${(median(rs.map((x) => x.wall)) * k).toFixed(2)}, sender cpu ${(median(rs.map((x) => x.senderCpu)) * k).toFixed(2)}, receiver cpu ${(median(rs.map((x) => x.receiverCpu)) * k).toFixed(2)}`,
    )
  }
  console.log(
    `load average: ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
}
