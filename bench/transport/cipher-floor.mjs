#!/usr/bin/env node
// The cipher's own cost, for the floor of an encrypted download (issue 16): SIZE bytes sealed and
// then opened with the transport's record code (src/core/trust/records.ts: libsodium's
// crypto_secretstream_xchacha20poly1305 in records of 64 KiB), one 1 MiB chunk at a time into
// reused buffers, no socket. Prints {"sealCpu":…,"openCpu":…} in CPU-seconds for SIZE bytes.
//   node bench/transport/cipher-floor.mjs [bytes]   (needs `npm run build`)
import { randomBytes } from 'node:crypto'
import {
  LENGTH_BYTES,
  RecordOpener,
  RecordSealer,
  readLength,
  STREAM_HEADER_BYTES,
  sealedLength,
} from '../../dist/src/core/trust/records.js'

const size = Number(process.argv[2] ?? 2 ** 30)
const CHUNK = 1 << 20
const key = randomBytes(32)
const streamId = randomBytes(32)
const sealer = new RecordSealer(key, streamId)
const opener = new RecordOpener(key, streamId)
opener.start(sealer.streamHeader.subarray(LENGTH_BYTES, LENGTH_BYTES + STREAM_HEADER_BYTES))
const plain = randomBytes(CHUNK)
const sealed = Buffer.alloc(sealedLength(CHUNK))
const opened = Buffer.alloc(CHUNK)
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
let sealCpu = 0
let openCpu = 0
for (let done = 0; done < size; done += CHUNK) {
  let t = cpu()
  sealer.sealInto(plain, sealed)
  sealCpu += cpu() - t
  t = cpu()
  for (let at = 0, into = 0; at < sealed.length; ) {
    const length = readLength(sealed, at)
    into += opener.openInto(sealed.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length), opened.subarray(into))
    at += LENGTH_BYTES + length
  }
  openCpu += cpu() - t
}
if (!opened.equals(plain)) throw new Error('the records did not open to what was sealed')
console.log(JSON.stringify({ bytes: size, sealCpu, openCpu }))
