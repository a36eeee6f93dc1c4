// CPU per Noise XX handshake (both sides in one process, over loopback TCP): what a flood of handshakes costs a server.
import { createServer } from 'node:net'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { SecureSocket } from '../../dist/src/core/trust/secure-socket.js'

const server = NoiseSecretStream.keyPair(),
  client = NoiseSecretStream.keyPair()
const srv = createServer((s) => {
  const x = SecureSocket.accept(s, { keyPair: server })
  x.ready.then(
    () => x.destroy(),
    () => {},
  )
})
await new Promise((r) => srv.listen(0, '127.0.0.1', r))
const N = Number(process.argv[2] ?? 300)
const c0 = process.cpuUsage()
const t = performance.now()
for (let i = 0; i < N; i++) {
  const c = SecureSocket.connect({ host: '127.0.0.1', port: srv.address().port }, { keyPair: client })
  await c.ready
  c.destroy()
}
const c = process.cpuUsage(c0)
console.log(
  `${N} handshakes: ${((performance.now() - t) / N).toFixed(2)} ms each (wall), ${((c.user + c.system) / 1000 / N).toFixed(2)} ms CPU each (both sides)`,
)
srv.close()
