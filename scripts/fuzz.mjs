#!/usr/bin/env node
// npm run fuzz [-- --seconds 300]
// Property-based fuzzing (fast-check) of every decoder that reads untrusted
// bytes: the TCP frame decoder, the transfer messages, the UDP announcement
// decoder (announcements, queries, "more" notices) and the dictionary it
// feeds, the dictionary file reader, the manifest parser, the name validator
// (and the portable local name), printable() and the config parser; the
// folder targets (scripts/fuzz-folders.mjs: the version-2 manifest parser, the
// path rules, the --only selection); the trust layer's handshake and record
// parsing, sealed datagrams, identity file and key texts (fuzz-trust.mjs).
// Each target runs for its share of the time budget. A failure prints the
// shrunk counterexample and the seed (to replay it, and to turn it into a
// regression test) and exits 1. Only our typed errors (P2PError) may escape.
import fc from 'fast-check'
import { Bitfield } from '../dist/src/core/bitfield.js'
import { resolveSettings } from '../dist/src/core/config.js'
import { encodeQuery } from '../dist/src/core/discovery/announcement.js'
import { decodeDatagram, decodeQuery } from '../dist/src/core/discovery/announcement-decode.js'
import { encodeAnnouncements } from '../dist/src/core/discovery/announcement-encode.js'
import { ContentDictionary } from '../dist/src/core/discovery/dictionary.js'
import { claimsFromSnapshot, toSnapshot } from '../dist/src/core/discovery/dictionary-file.js'
import { P2PError } from '../dist/src/core/errors.js'
import { encodeManifest, manifestId, parseManifest } from '../dist/src/core/manifest.js'
import { isValidName, nameProblem, portableName, validateName } from '../dist/src/core/names.js'
import { printable } from '../dist/src/core/printable.js'
import { SETTINGS } from '../dist/src/core/settings.js'
import { encodeFrame, FrameDecoder } from '../dist/src/core/transfer/framing.js'
import { parseRequest, parseResponse } from '../dist/src/core/transfer/messages.js'
import { folderTargets } from './fuzz-folders.mjs'
import { trustTargets } from './fuzz-trust.mjs'

const args = process.argv.slice(2)
const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 0) || 60
const typed = (fn) => {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof P2PError)) throw err
  }
}
const hex = fc.stringMatching(/^[0-9a-f]{64}$/)

const targets = {
  'frame decoder: garbage segments': fc.property(
    fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
    (segments) => {
      const d = new FrameDecoder({ maxHeaderBytes: 1024, maxBodyBytes: 8192 })
      typed(() => {
        for (const s of segments) d.push(Buffer.from(s))
      })
    },
  ),
  'frame decoder: valid stream, any segmentation, then garbage': fc.property(
    fc.array(
      fc.record({
        header: fc.jsonValue().map((v) => ({ v })),
        body: fc.option(fc.uint8Array({ maxLength: 2000 }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    fc.array(fc.nat(), { maxLength: 16 }),
    fc.uint8Array({ maxLength: 64 }),
    (frames, cuts, tail) => {
      const stream = Buffer.concat([...frames.map((f) => encodeFrame(f.header, f.body)), Buffer.from(tail)])
      const d = new FrameDecoder({ maxHeaderBytes: 1 << 20, maxBodyBytes: 1 << 20 })
      let got = 0
      let last = 0
      typed(() => {
        for (const p of [...new Set(cuts.map((c) => c % (stream.length + 1)))]
          .sort((a, b) => a - b)
          .concat(stream.length)) {
          got += d.push(stream.subarray(last, p)).length
          last = p
        }
      })
      if (got < frames.length) throw new Error(`decoded ${got} of ${frames.length} frames`)
    },
  ),
  'transfer messages': fc.property(fc.jsonValue(), (value) => {
    const header = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { value }
    typed(() => parseRequest(header))
    typed(() => parseResponse(header))
  }),
  'announcement decoder: bytes': fc.property(fc.uint8Array({ maxLength: 1400 }), (bytes) => {
    typed(() => decodeDatagram(bytes))
    typed(() => decodeQuery(bytes))
  }),
  'announcement decoder: mutated valid datagrams': fc.property(
    fc.array(
      fc.record({
        id: hex,
        name: fc.string({ minLength: 1, maxLength: 40 }),
        chunks: fc.integer({ min: 0, max: 5000 }),
      }),
      { maxLength: 8 },
    ),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    (files, flips) => {
      const local = files
        .filter((f) => nameProblem(f.name) === undefined && f.name === f.name.normalize('NFC'))
        .map((f) => ({ id: f.id, name: f.name, size: f.chunks * 4096, have: new Bitfield(f.chunks) }))
      for (const datagram of encodeAnnouncements('fuzzpeer', 1, local)) {
        if (datagram.length > 1200) throw new Error(`datagram of ${datagram.length} bytes`)
        decodeDatagram(datagram) // valid ones must decode
        for (const [at, value] of flips) datagram[at % datagram.length] = value
        typed(() => decodeDatagram(datagram))
      }
    },
  ),
  'discovery queries: round trip, then flipped bytes': fc.property(
    fc.record({
      id: fc.option(hex, { nil: undefined }),
      name: fc.option(fc.string({ minLength: 1, maxLength: 60 }), { nil: undefined }),
    }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    (want, flips) => {
      const clean = Object.fromEntries(
        Object.entries(want).filter(
          ([k, v]) => v !== undefined && (k !== 'name' || (nameProblem(v) === undefined && v === v.normalize('NFC'))),
        ),
      )
      const bytes = encodeQuery(clean)
      if (bytes.length !== 1200) throw new Error(`query of ${bytes.length} bytes`)
      const back = decodeDatagram(bytes)
      if (back.type !== 'query' || JSON.stringify(back.want) !== JSON.stringify(clean))
        throw new Error(`query round trip: ${JSON.stringify(back)}`)
      for (const [at, value] of flips) bytes[at % 80] = value
      typed(() => decodeDatagram(bytes))
    },
  ),
  'dictionary: any decodable datagrams from a few addresses keep the byte caps': fc.property(
    fc.array(
      fc.record({
        from: fc.integer({ min: 1, max: 4 }),
        port: fc.integer({ min: 1, max: 3 }),
        files: fc.array(
          fc.record({
            n: fc.integer({ min: 0, max: 40 }),
            chunks: fc.oneof(fc.constantFrom(0, 1, 8, 1 << 24), fc.integer({ min: 0, max: 1 << 24 })),
            have: fc.oneof(
              fc.constant('all'),
              fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')),
            ),
            from: fc.nat(),
          }),
          { maxLength: 5 },
        ),
      }),
      { maxLength: 30 },
    ),
    (datagrams) => {
      const d = new ContentDictionary({
        maxBytes: 8 << 20,
        maxBytesPerAddress: 3 << 20,
        maxFiles: 30,
        maxPeers: 8,
        maxPeersPerAddress: 2,
      })
      for (const [t, g] of datagrams.entries()) {
        const files = g.files.map((f) => ({
          id: f.n.toString(16).padStart(64, '0'),
          name: `n${f.n}`,
          size: f.chunks * 4096,
          chunks: f.chunks,
          have: f.have,
          from: Math.floor((f.from % Math.max(1, f.chunks)) / 8) * 8,
        }))
        typed(() =>
          d.merge(
            decodeDatagram(
              Buffer.from(JSON.stringify({ v: 1, type: 'announce', peer: 'fuzzpeer', port: g.port, files })),
              1 << 20,
            ),
            `10.0.0.${g.from}`,
            t,
          ),
        )
        if (d.bytes() > 8 << 20) throw new Error(`${d.bytes()} bytes held`)
        for (let a = 1; a <= 4; a++)
          if (d.bytes(`10.0.0.${a}`) > 3 << 20) throw new Error(`${d.bytes(`10.0.0.${a}`)} bytes from one address`)
      }
    },
  ),
  'dictionary file reader: mutated snapshots': fc.property(
    fc.integer({ min: 1, max: 5 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 32, max: 126 })), { maxLength: 8 }),
    (n, flips) => {
      const d = new ContentDictionary()
      for (let i = 0; i < n; i++)
        d.merge(
          {
            type: 'announce',
            peer: 'fuzzpeer',
            port: i + 1,
            files: [
              {
                id: i.toString(16).padStart(64, '0'),
                name: `f${i}`,
                size: 9 * 4096,
                chunks: 9,
                have: i % 2 ? 'all' : new Bitfield(9),
                from: 0,
              },
            ],
          },
          '10.0.0.1',
          i,
        )
      const text = Buffer.from(JSON.stringify(toSnapshot(d.files(), { now: 10, wallNow: 10 })))
      for (const [at, value] of flips) text[at % text.length] = value
      let value
      try {
        value = JSON.parse(text.toString())
      } catch {
        return
      }
      typed(() => claimsFromSnapshot(value, (w) => w))
    },
  ),
  'manifest parser': fc.property(
    fc.record({
      name: fc.string({ minLength: 1, maxLength: 30 }),
      size: fc.integer({ min: 0, max: 100_000 }),
      chunkSize: fc.constantFrom(4096, 65536),
    }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    (m, flips) => {
      if (nameProblem(m.name) !== undefined || m.name !== m.name.normalize('NFC')) return
      const chunks = Array.from({ length: Math.ceil(m.size / m.chunkSize) }, () => 'a'.repeat(64))
      const bytes = encodeManifest({
        version: 1,
        name: m.name,
        size: m.size,
        chunkSize: m.chunkSize,
        chunks,
        sha256: 'b'.repeat(64),
      })
      const back = parseManifest(bytes, { expectedId: manifestId(bytes) })
      if (!encodeManifest(back).equals(bytes)) throw new Error('manifest round trip changed the bytes')
      const mutated = Buffer.from(bytes)
      for (const [at, value] of flips) mutated[at % mutated.length] = value
      typed(() => parseManifest(mutated))
      typed(() => parseManifest(mutated, { expectedId: manifestId(bytes) }))
    },
  ),
  'name validator': fc.property(
    fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('..', '.', '../x', 'a/b', 'C:\\x', '%2e%2e')),
    (name) => {
      typed(() => {
        const ok = validateName(name)
        if (ok.includes('/') || ok.includes('\\') || ok === '..' || ok === '.' || Buffer.byteLength(ok) > 255)
          throw new Error(`accepted ${JSON.stringify(name)}`)
        const local = portableName(ok)
        if (!isValidName(local) || portableName(local) !== local)
          throw new Error(`portable form of ${JSON.stringify(name)} is ${JSON.stringify(local)}`)
      })
    },
  ),
  printable: fc.property(
    fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })),
    fc.integer({ min: 0, max: 300 }),
    (text, max) => {
      const out = printable(text, max)
      // eslint-disable-next-line no-control-regex
      if (
        /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/.test(out) ||
        !out.isWellFormed() ||
        [...out].length > max
      ) {
        throw new Error(`printable(${JSON.stringify(text)}, ${max}) = ${JSON.stringify(out)}`)
      }
    },
  ),
  'config parser': fc.property(
    fc.dictionary(fc.constantFrom(...Object.keys(SETTINGS)), fc.oneof(fc.string(), fc.integer(), fc.double())),
    (flags) => {
      typed(() => resolveSettings(SETTINGS, { flags, env: {}, cwd: '/tmp' }))
    },
  ),
  ...trustTargets(fc, typed),
}

Object.assign(targets, folderTargets(fc, typed))

const share = (seconds * 1000) / Object.keys(targets).length
let failed = false
for (const [name, property] of Object.entries(targets)) {
  const started = performance.now()
  const result = fc.check(property, {
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: share,
    markInterruptAsFailure: false,
  })
  const runs = result.numRuns
  if (result.failed) {
    failed = true
    console.log(
      `FAIL ${name} after ${runs} runs (seed ${result.seed}, path ${result.counterexamplePath}):\n  ${fc.stringify(result.counterexample)}\n  ${result.errorInstance?.stack ?? result.error}`,
    )
  } else {
    console.log(`ok   ${name}: ${runs} inputs in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
}
process.exit(failed ? 1 : 0)
