const sodium = require('sodium-native')
const crypto = require('node:crypto')
const MiB = 1 << 20,
  N = 256
const src = Buffer.alloc(MiB, 7),
  out = Buffer.alloc(MiB + 17)
const key = Buffer.alloc(32, 1)
// secretstream push
const state = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
const header = Buffer.alloc(24)
sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key)
let t = process.hrtime.bigint()
for (let i = 0; i < N; i++) sodium.crypto_secretstream_xchacha20poly1305_push(state, out, src, null, 0)
console.log('secretstream push MB/s', (N * MiB) / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9))
for (const alg of ['aes-256-gcm', 'chacha20-poly1305']) {
  t = process.hrtime.bigint()
  const iv = Buffer.alloc(12)
  for (let i = 0; i < N; i++) {
    iv.writeUInt32BE(i, 8)
    const c = crypto.createCipheriv(alg, key, iv, { authTagLength: 16 })
    // update writes a new buffer; no output-into API in Node 20
    c.update(src)
    c.final()
    c.getAuthTag()
  }
  console.log(alg, 'MB/s', (N * MiB) / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9))
}
t = process.hrtime.bigint()
for (let i = 0; i < N; i++) crypto.createHash('sha256').update(src).digest()
console.log('sha256 MB/s', (N * MiB) / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9))
if (sodium.crypto_aead_aes256gcm_is_available?.()) {
  const nonce = Buffer.alloc(12)
  t = process.hrtime.bigint()
  for (let i = 0; i < N; i++)
    sodium.crypto_aead_aes256gcm_encrypt(out.subarray(0, MiB + 16), src, null, null, nonce, key)
  console.log('sodium aes256gcm MB/s', (N * MiB) / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9))
} else console.log('sodium aes256gcm not available')
{
  const nonce = Buffer.alloc(24)
  t = process.hrtime.bigint()
  for (let i = 0; i < N; i++)
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(0, MiB + 16), src, null, null, nonce, key)
  console.log('sodium xchacha20poly1305 aead MB/s', (N * MiB) / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9))
}
