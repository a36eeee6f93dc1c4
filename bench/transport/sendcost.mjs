import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { RecordSealer, sealedLength } from '../../dist/src/core/trust/records.js'
import { SealBuffers } from '../../dist/src/core/trust/seal-buffers.js'

const MiB = 1 << 20,
  N = 256
const sink = Buffer.alloc(MiB)
const server = createServer((_s) => {}).listen(0, '127.0.0.1')
await once(server, 'listening')
async function trial(name, make) {
  const recv = connect({
    host: '127.0.0.1',
    port: server.address().port,
    onread: { buffer: sink, callback: () => true },
  })
  const [sock] = await once(server, 'connection')
  const c0 = process.cpuUsage()
  const t = performance.now()
  for (let i = 0; i < N; i++) {
    const [buf, done] = make()
    if (!sock.write(buf, done)) await once(sock, 'drain')
  }
  const c = process.cpuUsage(c0)
  console.log(
    name.padEnd(10),
    'cpu',
    ((c.user + c.system) / 1e6).toFixed(2),
    'wall',
    ((performance.now() - t) / 1000).toFixed(2),
  )
  recv.destroy()
  sock.destroy()
}
const plain = Buffer.alloc(MiB, 1)
const pool = new SealBuffers()
const sealer = new RecordSealer(Buffer.alloc(64, 1), Buffer.alloc(32, 2))
for (let r = 0; r < 2; r++) {
  await trial('plain', () => [plain, undefined])
  await trial('pooled', () => {
    const out = pool.take(sealedLength(MiB))
    return [out, () => pool.give(out)]
  })
  await trial('sealed', () => {
    const out = pool.take(sealedLength(MiB))
    sealer.sealInto(plain, out)
    return [out, () => pool.give(out)]
  })
}
server.close()
