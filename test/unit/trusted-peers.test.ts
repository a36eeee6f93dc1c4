import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { Bitfield } from '../../src/core/bitfield.js'
import type { LivePeer } from '../../src/core/download/job.js'
import { offeredIds, TrustedPeers } from '../../src/core/download/trusted-peers.js'
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
    assert.equal(announce(forged), forged, 'the only one announced is dialled')
    trusted.refuse(address, 'another key')
    assert.equal(announce(forged), undefined, 'refused, and nothing else announced')
    assert.equal(announce(seeder), seeder, "the seeder's own next announcement brings the address back")
    assert.equal(announce(forged), seeder, 'while the forged one is the newest, the remembered seeder ID is dialled')
    assert.deepEqual(
      trusted.refused.map((r) => r.peerId),
      [forged],
    )
  })

  it('forged peer IDs rotating faster than the seeder announces neither outrank its own nor push it out (the second attack)', () => {
    const { trusted, announce } = setup()
    const first = newPeerId()
    assert.equal(announce(first), first)
    trusted.refuse(address, 'another key') // a forged one heard before the seeder, dialled and refused
    const seeder = newPeerId()
    assert.equal(announce(seeder), seeder)
    for (let k = 0; k < 20; k++)
      assert.equal(announce(newPeerId()), seeder, `fresh forged ID ${k}: the seeder's is dialled`)
    assert.equal(announce(seeder), seeder, 'it came back: it outranks every forged one')
    for (let k = 0; k < 20; k++) assert.equal(announce(newPeerId()), seeder)
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

  it('a flood of forged peer IDs past the parse cache (4,096 texts) loses no refusal and keeps the seeder', () => {
    const { trusted, announce } = setup()
    const forged = newPeerId()
    announce(forged)
    trusted.refuse(address, 'another key')
    const seeder = newPeerId()
    assert.equal(announce(seeder), seeder)
    for (let k = 0; k < 5000; k++) {
      const dialled = announce(newPeerId())
      if (k % 500 === 0) assert.equal(announce(seeder), seeder, `after ${k} forged IDs`)
      else assert.equal(dialled, seeder)
    }
    const parsed = (trusted as unknown as { parsed: Map<string, unknown> }).parsed
    assert.ok(parsed.size <= 4096, `${parsed.size} texts kept`)
    // The refused ID is parsed afresh now (the cache started again): still refused, by its canonical text.
    assert.equal(announce(forged.toLowerCase().replaceAll('-', ' ')), seeder)
    assert.deepEqual(
      trusted.refused.map((r) => r.peerId),
      [forged],
    )
  })

  it("the dictionary's list of every peer ID heard: the seeder's is dialled once the forged ones were refused, though it was never the newest when looked at; one off the allow-list is passed over, never dialled", () => {
    const seeder = newPeerId()
    const forged = [newPeerId(), newPeerId()]
    for (const allowed of [undefined, seeder]) {
      let newest = forged[0]!
      const inner = {
        peers: (): LivePeer[] => [
          { ...address, have: new Bitfield(1), peerId: newest, peerIds: [seeder, ...forged], transport: 'noise' },
        ],
        waitForChange: () => Promise.resolve(),
      }
      const allow = allowed && {
        allows: (key: Buffer) => formatPeerId(key) === allowed,
        allowsPeerId: (id: string) => id === allowed,
      }
      const trust = { transport: 'encrypted', identity: {}, swarm: undefined, allow } as unknown as Trust
      const trusted = new TrustedPeers(inner, trust, silentLogger())
      const dialled: string[] = []
      for (let i = 0; i < 6; i++) {
        newest = forged[i % 2]! // two forged IDs in turn, always the newest when looked at
        const [peer] = trusted.peers('id')
        const id = peer && trusted.peerIdOf(`${peer.address}:${peer.port}`)
        if (id === undefined) break
        dialled.push(id)
        if (id !== seeder) trusted.refuse(address, 'another key')
        else break
      }
      assert.equal(dialled[dialled.length - 1], seeder, 'the seeder is dialled in the end')
      assert.deepEqual(trusted.refused.map((r) => r.peerId).sort(), allowed ? [] : [...forged].sort())
    }
  })

  it("a fresh forged peer ID heard at every poll besides two in turn never wins a tie against the seeder's, nor pushes it out (the review)", () => {
    const seeder = newPeerId()
    const [a, b] = [newPeerId(), newPeerId()]
    let newest = a
    let heard: string[] = [seeder, a, b]
    const inner = {
      peers: (): LivePeer[] => [
        { ...address, have: new Bitfield(1), peerId: newest, peerIds: heard, transport: 'noise' },
      ],
      waitForChange: () => Promise.resolve(),
    }
    const trust = { transport: 'encrypted', identity: {}, swarm: undefined, allow: undefined } as unknown as Trust
    const trusted = new TrustedPeers(inner, trust, silentLogger())
    const dialled: string[] = []
    for (let poll = 0; poll < 40; poll++) {
      newest = poll % 2 === 0 ? a : b
      heard = [...heard, newPeerId()].slice(-32) // a new list each poll: one more fresh forged ID, the newest
      const [peer] = trusted.peers('id')
      const id = peer && trusted.peerIdOf(`${peer.address}:${peer.port}`)
      if (id === undefined) continue
      dialled.push(id)
      if (id === seeder) break
      trusted.refuse(address, 'another key')
    }
    assert.equal(dialled.at(-1), seeder, `dialled ${dialled.length}: the seeder last`)
    assert.ok(dialled.length <= 3, `${dialled.length} dials before the seeder: the two in turn, at most`)
  })

  it('a dial offers every usable peer ID heard for the address, so one handshake settles it; another key answering refuses what that dial offered, not what was heard meanwhile (the attack on the fix; the review)', () => {
    const seeder = NoiseSecretStream.keyPair().publicKey
    const forged = [newPeerId(), newPeerId(), newPeerId()]
    let heard = [...forged]
    let newest = forged[0]!
    const inner = {
      peers: (): LivePeer[] => [
        { ...address, have: new Bitfield(1), peerId: newest, peerIds: heard, transport: 'noise' },
      ],
      waitForChange: () => Promise.resolve(),
    }
    const keyPair = NoiseSecretStream.keyPair()
    const trust = {
      transport: 'encrypted',
      identity: { keyPair },
      swarm: undefined,
      allow: undefined,
    } as unknown as Trust
    const trusted = new TrustedPeers(inner, trust, silentLogger())
    assert.equal(trusted.peers('id').length, 1)
    const dial = trusted.secureOptionsFor(address)!
    assert.deepEqual(offeredIds(dial).sort(), [...forged].sort(), 'every forged ID heard, in one dial')
    // While that handshake runs, the seeder is heard, and heard again: it is what the address is named by now.
    heard = [...forged, formatPeerId(seeder)]
    for (const id of [formatPeerId(seeder), forged[1]!, formatPeerId(seeder)]) {
      newest = id
      trusted.peers('id')
    }
    assert.equal(trusted.peerIdOf(`${address.address}:${address.port}`), formatPeerId(seeder))
    trusted.refuse(address, 'another key', offeredIds(dial)) // the seeder answered that dial: none of those
    assert.deepEqual(trusted.refused.map((r) => r.peerId).sort(), [...forged].sort(), 'the seeder is not refused')
    assert.equal(trusted.peers('id').length, 1)
    assert.equal(trusted.peerIdOf(`${address.address}:${address.port}`), formatPeerId(seeder))
    trusted.reachedKey(address, formatPeerId(seeder))
    const options = trusted.secureOptionsFor(address)!
    assert.deepEqual(
      [options.expectedRemoteKey, options.expectedRemoteKeys],
      [seeder, undefined],
      'once reached: that key alone',
    )
  })

  it('when every remembered peer ID was refused, the address is not offered', () => {
    const { trusted, announce } = setup()
    const forged = newPeerId()
    announce(forged)
    trusted.refuse(address, 'another key')
    assert.equal(announce(forged), undefined)
  })
})

describe('trusted peers: a flood of peers that cannot be used (attacker pass, fifty-fifth session)', () => {
  it('each is said once, the first 100 by name, then a line every 100 more; the memory of them is bounded', () => {
    let fresh = 0
    const inner = {
      // A stranger announcing the plain transport from a new port each time: never usable by an encrypted download.
      peers: (): LivePeer[] =>
        Array.from({ length: 50 }, () => ({
          address: '10.0.0.9',
          port: 1 + (fresh++ % 65_535),
          have: new Bitfield(1),
          peerId: 'x'.repeat(16),
        })),
      waitForChange: () => Promise.resolve(),
    }
    const trust = { transport: 'encrypted', identity: {}, swarm: undefined, allow: undefined } as unknown as Trust
    const lines: string[] = []
    const log = { ...silentLogger(), info: (_: unknown, msg: string) => void lines.push(msg) } as unknown as ReturnType<
      typeof silentLogger
    >
    const trusted = new TrustedPeers(inner, trust, log)
    for (let i = 0; i < 200; i++) assert.deepEqual(trusted.peers('id'), [])
    assert.equal(fresh, 10_000)
    assert.equal(lines.filter((l) => l === 'peer not used').length, 100)
    assert.equal(lines.filter((l) => l === 'peers not used').length, 99, 'at 200, 300, … 10,000')
    assert.ok((trusted as unknown as { skipped: { size: number } }).skipped.size <= 4096)
  })
})

describe('trusted peers: the peers a download passes over for their transport (what a lost race says)', () => {
  it('lists, as they announce now, the peers of the file that announce the other transport, once each', () => {
    const peer = (port: number, transport?: 'noise'): LivePeer => ({
      address: '10.0.0.5',
      port,
      have: new Bitfield(1),
      peerId: newPeerId(),
      ...(transport ? { transport } : {}),
    })
    const announced = [peer(1), peer(2, 'noise'), peer(3), peer(1)]
    const inner = { peers: (): LivePeer[] => announced, waitForChange: () => Promise.resolve() }
    const encrypted = { transport: 'encrypted', identity: {}, swarm: undefined, allow: undefined } as unknown as Trust
    assert.deepEqual(new TrustedPeers(inner, encrypted, silentLogger()).otherTransport('id'), {
      ours: 'encrypted',
      peers: ['10.0.0.5:1', '10.0.0.5:3'],
    })
    assert.deepEqual(new TrustedPeers(inner, undefined, silentLogger()).otherTransport('id'), {
      ours: 'plain',
      peers: ['10.0.0.5:2'],
    })
  })
})
