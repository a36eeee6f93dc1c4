import { createServer } from 'node:net'
import { once } from 'node:events'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { SecureSocket } from '../../dist/src/core/trust/secure-socket.js'
import { SealBuffers } from '../../dist/src/core/trust/seal-buffers.js'
const buffers = new SealBuffers()
const origTake = buffers.take.bind(buffers), origGive = buffers.give.bind(buffers)
let takes = 0, gives = 0
buffers.take = (n) => { takes++; return origTake(n) }
buffers.give = (b) => { gives++; console.log('give', b.byteLength, 'idle before', buffers.idleByteCount); return origGive(b) }
const srv = createServer((s) => { const x = SecureSocket.accept(s, { keyPair: NoiseSecretStream.keyPair() }); x.on('data', () => {}) })
await new Promise((r) => srv.listen(0, '127.0.0.1', r))
const c = SecureSocket.connect({ host: '127.0.0.1', port: srv.address().port }, { keyPair: NoiseSecretStream.keyPair(), buffers })
await c.ready
const data = Buffer.alloc(1 << 20)
for (let i = 0; i < 5; i++) { const ok = c.write(data); console.log('write', i, ok, 'takes', takes, 'gives', gives, 'idle', buffers.idleByteCount); if (!ok) await once(c, 'drain') }
c.destroy(); srv.close()
