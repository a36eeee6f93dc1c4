// Fuzz targets of the trust layer (issue 16), merged into scripts/fuzz.mjs's list: the handshake and
// record parsing of SecureSocket on both sides (in memory: test/helpers/fake-socket.ts), sealed
// datagrams (any bytes, and mutations of valid ones), the identity file, peer IDs and secrets, and
// share links (issue 20: any text, and links built from hostile parts).
// Only typed errors (P2PError) may escape a parser; a secure socket fed garbage must close with a
// typed error or keep waiting, and never deliver data.
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { formatShareLink, parseShareLink } from '../dist/src/core/discovery/share-link.js'
import { P2PError } from '../dist/src/core/errors.js'
import { parseIdentityFile } from '../dist/src/core/trust/identity.js'
import { parseKeyText } from '../dist/src/core/trust/key-text.js'
import { MAX_SEALED_PAYLOAD, openDatagram, sealDatagram } from '../dist/src/core/trust/sealed-datagram.js'
import { SecureSocket } from '../dist/src/core/trust/secure-socket.js'
import { parseSecret } from '../dist/src/core/trust/swarm-secret.js'
import { FakeSocket } from '../dist/test/helpers/fake-socket.js'

const CLOSE_CODES = new Set(['E_AUTH', 'E_TOO_LARGE', 'E_TAMPERED', 'E_CLOSED'])

export function trustTargets(fc, typed) {
  const keyPair = NoiseSecretStream.keyPair()
  const key = Buffer.alloc(32, 7)
  const now = 1_800_000_000_000
  const feedGarbage = (initiator) =>
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), (segments) => {
      const fake = new FakeSocket()
      const s = SecureSocket.over(fake.asSocket(), initiator, { keyPair, handshakeTimeoutMs: 60_000 })
      s.on('data', () => {
        throw new Error('data delivered from garbage')
      })
      for (const seg of segments) fake.feed(Buffer.from(seg))
      if (s.closedWith && !(s.closedWith instanceof P2PError && CLOSE_CODES.has(s.closedWith.code)))
        throw new Error(`closed with ${s.closedWith}`)
      s.destroy()
    })
  return {
    'secure socket: garbage at an accepting side': feedGarbage(false),
    'secure socket: garbage answering a connecting side': feedGarbage(true),
    'sealed datagram: bytes': fc.property(fc.uint8Array({ maxLength: 1300 }), (bytes) => {
      const opened = openDatagram(key, bytes, now, 15_000)
      if (!('failure' in opened)) throw new Error('random bytes opened')
    }),
    'sealed datagram: mutated valid datagrams': fc.property(
      fc.uint8Array({ maxLength: MAX_SEALED_PAYLOAD }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      (payload, flips) => {
        const sealed = sealDatagram(key, payload, now)
        for (const [at, x] of flips) sealed[at % sealed.length] ^= x
        const opened = openDatagram(key, sealed, now, 15_000)
        // Flips may cancel out (the same byte twice): then it must open to the very payload.
        if (!('failure' in opened) && !opened.payload.equals(Buffer.from(payload)))
          throw new Error('a mutated datagram opened to other bytes')
      },
    ),
    'identity file parser': fc.property(
      fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 400 })),
      (text) => typed(() => parseIdentityFile(text)),
    ),
    'peer ID and secret text': fc.property(
      fc.oneof(fc.string({ maxLength: 120 }), fc.stringMatching(/^(psk1-)?[A-Z2-7 -]{50,70}$/)),
      (text) => {
        parseKeyText(text)
        typed(() => parseSecret(text))
      },
    ),
    'share link parser': fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc
          .tuple(
            fc.stringMatching(/^[0-9a-fA-F]{60,68}$/),
            fc.string({ maxLength: 80 }),
            fc.string({ maxLength: 80 }),
            fc.constantFrom('?peer=', '&peer=', '?secret=', '&secret=', '?', '#', '%', '%00', ''),
          )
          .map(([id, a, b, sep]) => `p2p://${id}${sep}${a}&secret=${b}`),
      ),
      (text) => {
        let link
        typed(() => {
          link = parseShareLink(text)
        })
        // What parses must survive its own round trip unchanged.
        if (link && JSON.stringify(parseShareLink(formatShareLink(link))) !== JSON.stringify(link))
          throw new Error(`share link round trip changed ${JSON.stringify(link)}`)
      },
    ),
  }
}
