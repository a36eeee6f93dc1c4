import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import HyperDHT, { type DhtSocket } from 'hyperdht'
import { guardHandshakes, type HandshakeCharge } from '../../src/core/dht/handshake-source.js'
import { onCleanup } from '../helpers/cleanup.js'
import { testnetNode, testnetNodes } from '../helpers/dht.js'
import { forgedHandshake } from '../helpers/forged-handshakes.js'

/**
 * The guard in front of hyperdht's real server (own loopback testnet): what it charges, and what the engine is
 * told (the address it connects to).
 */

async function guardedServer(t: Parameters<typeof onCleanup>[0], bootstrap: string) {
  const node = testnetNode(t, bootstrap)
  const keyPair = HyperDHT.keyPair()
  const connections: DhtSocket[] = []
  const server = node.createServer({}, (socket) => {
    socket.on('error', () => undefined)
    connections.push(socket)
  })
  const admitted: HandshakeCharge[] = []
  guardHandshakes(server, (charge) => {
    admitted.push(charge)
    return true
  })
  await server.listen(keyPair)
  onCleanup(t, () => server.close())
  const address = node.io.serverSocket!.address()
  return { key: keyPair.publicKey, to: { host: '127.0.0.1', port: address.port }, connections, admitted }
}

describe('the handshake guard on the engine itself', () => {
  it("a relay of the server's naming a dialler: charged to the relay and that address, the engine connected there", async (t) => {
    const { bootstrap, nodes } = await testnetNodes(t)
    const { key, to, connections, admitted } = await guardedServer(t, bootstrap)
    // The testnet's first node is its bootstrap node, which keeps no records: the others are the server's relays.
    const relay = nodes.at(-1)!
    const relayAt = relay.io.serverSocket!.address()
    assert.equal(
      await forgedHandshake(relay, key, to, { host: '127.0.0.9', port: 4000 }, 'relay'),
      false,
      'answered through the relay only',
    )
    for (let i = 0; i < 50 && connections.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(admitted.length, 1)
    assert.deepEqual(admitted[0], {
      source: `127.0.0.1:${relayAt.port}>127.0.0.9`,
      relay: `127.0.0.1:${relayAt.port}`,
      peerAddress: { host: '127.0.0.9', port: 4000 },
    })
    assert.equal(connections.length, 1, 'the engine connected to the address the relay named (open firewall)')
    assert.equal(connections[0]!.rawStream?.remoteHost, '127.0.0.9')
  })

  it('a stranger naming an address straight to the server: a dial from the stranger, connected there, nothing named', async (t) => {
    const { bootstrap } = await testnetNodes(t)
    const { key, to, connections, admitted } = await guardedServer(t, bootstrap)
    const stranger = testnetNode(t, bootstrap, '127.0.0.2')
    await stranger.ready()
    assert.equal(await forgedHandshake(stranger, key, to, { host: '127.0.0.9', port: 4000 }), true)
    for (let i = 0; i < 50 && connections.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(admitted.length, 1)
    assert.deepEqual(admitted[0], { source: '127.0.0.2', peerAddress: null })
    assert.equal(connections[0]?.rawStream?.remoteHost, '127.0.0.2', 'connected to the sender, not the named address')
  })
})
