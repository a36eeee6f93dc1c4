import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { Bitfield } from '../../src/core/bitfield.js'
import type { LivePeer } from '../../src/core/download/job.js'
import { TrustedPeers } from '../../src/core/download/trusted-peers.js'
import { silentLogger } from '../../src/core/log.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import type { Trust } from '../../src/core/trust/trust.js'

const newPeerId = (): string => formatPeerId(NoiseSecretStream.keyPair().publicKey)

/** What TrustedPeers admits for one seeder's address while announcements for it claim one peer ID after another. */
function setup() {
  let announced: string | undefined
  const inner = {
    peers: (): LivePeer[] =>
      announced === undefined
        ? []
        : [{ address: '10.0.0.5', port: 47010, have: new Bitfield(1), peerId: announced, transport: 'noise' }],
    waitForChange: () => Promise.resolve(),
  }
  const trust = { transport: 'encrypted', identity: {}, swarm: undefined, allow: undefined } as unknown as Trust
  const trusted = new TrustedPeers(inner, trust, silentLogger())
  const dialledWith = (): string | undefined => {
    const [peer] = trusted.peers('id')
    return peer && trusted.peerIdOf(`${peer.address}:${peer.port}`)
  }
  return {
    trusted,
    announce: (peerId: string) => {
      announced = peerId
      return dialledWith()
    },
  }
}

describe("trusted peers: forged announcements from a seeder's address (the attacker's finding 1)", () => {
  const address = { address: '10.0.0.5', port: 47010 }

  it("a refusal drops the pair of address and peer ID; the seeder's own peer ID, announced before or after, is still dialled", () => {
    const { trusted, announce } = setup()
    const seeder = newPeerId()
    const forged = newPeerId()
    assert.equal(announce(seeder), seeder)
    assert.equal(announce(forged), forged, 'the newest announcement is tried first')
    trusted.refuse(address, 'another key')
    assert.equal(announce(forged), seeder, 'while forged datagrams are the newest, the remembered seeder ID is dialled')
    assert.equal(announce(seeder), seeder)
    assert.deepEqual(
      trusted.refused.map((r) => r.peerId),
      [forged],
    )
  })

  it('a key once reached is kept for the address whatever later announcements claim, until it is refused', () => {
    const { trusted, announce } = setup()
    const seeder = newPeerId()
    const other = newPeerId()
    announce(seeder)
    trusted.reachedKey(address, seeder)
    assert.equal(announce(other), seeder)
    trusted.refuse(address, 'another key') // the seeder restarted with another identity, say
    assert.equal(announce(other), other)
  })

  it('when every remembered peer ID was refused, the address is not offered', () => {
    const { trusted, announce } = setup()
    const forged = newPeerId()
    announce(forged)
    trusted.refuse(address, 'another key')
    assert.equal(announce(forged), undefined)
  })
})
