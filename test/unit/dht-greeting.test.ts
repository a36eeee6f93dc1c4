import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { CHALLENGE_BYTES, DHT_HELLO, GreetingExchange, type GreetingStep } from '../../src/core/dht/greeting.js'
import { swarmProof } from '../../src/core/trust/swarm-secret.js'

/**
 * The greeting before a DHT session's frames (protocol §6.4), on its own: the dialler's first frame reaches the
 * accepting side only behind the challenge that side sent, whatever pieces the bytes come in; one who did not see
 * the greeting (a relay that finished a handshake itself, naming another address) cannot get a frame read.
 */

const hash = randomBytes(64)

function pair(proofKey: Buffer | undefined) {
  const common = { proofKey, handshakeHash: () => hash }
  return {
    dialler: new GreetingExchange({ ...common, initiator: true, label: 'the seeder' }),
    acceptor: new GreetingExchange({ ...common, initiator: false, label: 'the dialler' }),
  }
}

/** Feeds `bytes` in pieces cut at `cuts`, as a session does: once done, the rest is the frames'. */
function feed(side: GreetingExchange, bytes: Buffer, cuts: number[]): { written: Buffer; last: GreetingStep } {
  const written: Buffer[] = []
  let last: GreetingStep = { write: [] }
  let at = 0
  for (const end of [...cuts.filter((c) => c > 0 && c < bytes.byteLength).sort((x, y) => x - y), bytes.byteLength]) {
    if (end <= at) continue
    last = side.take(bytes.subarray(at, end))
    at = end
    written.push(...last.write)
    // What comes after the greeting is done goes to the session's frames, not to the greeting.
    if (last.done) last = { ...last, done: Buffer.concat([last.done, bytes.subarray(at)]) }
    if (last.done || last.refused) break
  }
  return { written: Buffer.concat(written), last }
}

describe('the DHT greeting', () => {
  it('property: a dialler and an accepting side reach their frames, in any pieces, open or private; the frames after it intact', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.nat(120), { maxLength: 6 }),
        fc.array(fc.nat(120), { maxLength: 6 }),
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        (privateSwarm, cutsToDialler, cutsToAcceptor, frame) => {
          const { dialler, acceptor } = pair(privateSwarm ? randomBytes(32) : undefined)
          const diallerFirst = Buffer.concat(dialler.start())
          const acceptorFirst = Buffer.concat(acceptor.start())
          let toAcceptor: Buffer = diallerFirst
          let toDialler: Buffer = acceptorFirst
          if (privateSwarm) {
            assert.equal(acceptorFirst.byteLength, 0, 'in a private swarm the dialler proves first')
            const proved = feed(acceptor, diallerFirst, cutsToAcceptor)
            assert.equal(proved.last.refused, undefined)
            assert.equal(proved.last.done, undefined, 'not done before the challenge came back')
            toDialler = proved.written
            toAcceptor = Buffer.alloc(0)
          }
          const greeted = feed(dialler, toDialler, cutsToDialler)
          assert.equal(greeted.last.refused, undefined)
          assert.ok(greeted.last.done, 'the dialler is ready once the greeting came')
          assert.equal(greeted.written.byteLength, CHALLENGE_BYTES)
          toAcceptor = Buffer.concat([toAcceptor, greeted.written, frame])
          const echoed = feed(acceptor, toAcceptor, cutsToAcceptor)
          assert.equal(echoed.last.refused, undefined)
          assert.deepEqual(echoed.last.done, Buffer.from(frame), 'the frames after the challenge, untouched')
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: an accepting side reads no frame from one that did not see its challenge, open or private', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.nat(60), { maxLength: 4 }), (privateSwarm, cuts) => {
        const { dialler, acceptor } = pair(privateSwarm ? randomBytes(32) : undefined)
        acceptor.start()
        // The relay proves what a private swarm's member can prove; it never receives what the acceptor sends.
        const guess = Buffer.concat([...dialler.start(), randomBytes(CHALLENGE_BYTES), randomBytes(30)])
        const step = feed(acceptor, guess, cuts).last
        assert.equal(step.done, undefined, 'no frame read')
        assert.match(step.refused?.message ?? '', /did not return our greeting's challenge/)
        assert.equal(step.refused?.code, 'E_AUTH')
      }),
      { numRuns: 300 },
    )
  })

  it('a wrong or older hello is refused at its eighth byte, not after waiting for a challenge', () => {
    const older = new GreetingExchange({ initiator: true, handshakeHash: () => hash, label: 'peer' })
    assert.match(older.take(Buffer.from('P2PDHT1\n')).refused?.message ?? '', /older p2pshare/)
    const other = new GreetingExchange({ initiator: true, handshakeHash: () => hash, label: 'peer' })
    assert.equal(other.take(Buffer.from('HTTP/1.')).refused, undefined, 'seven bytes: not yet')
    assert.match(other.take(Buffer.from('1')).refused?.message ?? '', /did not greet as a p2pshare peer/)
    const ours = new GreetingExchange({ initiator: true, handshakeHash: () => hash, label: 'peer' })
    assert.deepEqual(ours.take(DHT_HELLO), { write: [] }, 'the hello, and the challenge still to come')
  })

  it("a private swarm's seeder whose good proof comes without a challenge is named an older p2pshare (it timed out as mute)", () => {
    const proofKey = randomBytes(32)
    const { dialler, acceptor } = pair(proofKey)
    const older = swarmProof(proofKey, hash, false) // what a seeder from before the challenge sends, and no more
    assert.equal(dialler.stalled(), undefined, 'nothing yet')
    dialler.take(older.subarray(0, 10))
    assert.equal(dialler.stalled(), undefined, 'part of a proof')
    dialler.take(older.subarray(10))
    assert.match(
      dialler.stalled() ?? '',
      /proved the swarm secret and sent no challenge after it: it runs an older p2pshare/,
    )
    const wrong = new GreetingExchange({
      initiator: true,
      proofKey: randomBytes(32),
      handshakeHash: () => hash,
      label: 'x',
    })
    wrong.take(older)
    assert.equal(wrong.stalled(), undefined, 'a proof of another secret is no older p2pshare')
    assert.equal(acceptor.stalled(), undefined)
  })

  it('the held bytes are let go once the greeting is done or cleared', () => {
    const { dialler, acceptor } = pair(undefined)
    const greeting = Buffer.concat(acceptor.start())
    dialler.take(greeting.subarray(0, 10))
    assert.equal(dialler.heldBytes, 10)
    dialler.take(greeting.subarray(10))
    assert.equal(dialler.heldBytes, 0)
    acceptor.take(randomBytes(5))
    assert.equal(acceptor.heldBytes, 5)
    acceptor.clear()
    assert.equal(acceptor.heldBytes, 0)
  })
})
