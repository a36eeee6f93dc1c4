// Sealing alone: 256 MiB in 1 MiB writes through RecordSealer + SealBuffers, one core.
import { RecordSealer, sealedLength } from '../../dist/src/core/trust/records.js'
import { SealBuffers } from '../../dist/src/core/trust/seal-buffers.js'

const sealer = new RecordSealer(Buffer.alloc(64, 1), Buffer.alloc(32, 2))
const pool = new SealBuffers()
const plain = Buffer.alloc(1 << 20, 7)
const t = performance.now()
const c0 = process.cpuUsage()
for (let i = 0; i < 256; i++) {
  const out = pool.take(sealedLength(plain.length))
  sealer.sealInto(plain, out)
  pool.give(out)
}
const c = process.cpuUsage(c0)
console.log(
  'seal 256 MiB:',
  ((performance.now() - t) / 1000).toFixed(2),
  's wall',
  ((c.user + c.system) / 1e6).toFixed(2),
  'cpu-s',
)
