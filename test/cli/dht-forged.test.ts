import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { HANDSHAKES_PER_SECOND } from '../../src/core/transfer/dht-seeder.js'
import { parsePeerId } from '../../src/core/trust/peer-id.js'
import { attackerNode, dhtSeeder, downloadThroughDht, testnet, testnetNodes } from '../helpers/dht.js'
import { forgedHandshake } from '../helpers/forged-handshakes.js'
import { freeUdpPort, seeded } from '../helpers/swarm.js'

/**
 * Handshakes a stranger sends straight to a seeder's DHT socket, each claiming to have been relayed for a dialler
 * of its choosing (own loopback testnet; the stranger at 127.0.0.2, the honest peers at 127.0.0.1).
 */

const STRANGER_HOST = '127.0.0.2'

describe('DHT handshakes with forged dialler addresses (own loopback testnet)', () => {
  it(`${15 * HANDSHAKES_PER_SECOND} at once, each claiming another address: charged to the stranger's own, so no more than its allowance are answered`, async (t) => {
    const bootstrap = await testnet(t)
    const { dir } = await seeded(t, 300_000)
    const to = { host: '127.0.0.1', port: await freeUdpPort() }
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--dht-port', String(to.port)])
    const stranger = await attackerNode(t, bootstrap, STRANGER_HOST)
    const key = parsePeerId(line.peerId)
    const started = performance.now()
    const answers = await Promise.all(
      Array.from({ length: 15 * HANDSHAKES_PER_SECOND }, (_, i) =>
        // Every claim a different address (all on loopback): one allowance each, before.
        forgedHandshake(stranger, key, to, { host: `127.1.${i >> 8}.${i & 0xff || 1}`, port: 9 }),
      ),
    )
    const seconds = (performance.now() - started) / 1000
    const answered = answers.filter(Boolean).length
    t.diagnostic(`answered ${answered} of ${answers.length} in ${seconds.toFixed(2)} s`)
    assert.ok(
      answered <= 2 * HANDSHAKES_PER_SECOND + Math.ceil(seconds * HANDSHAKES_PER_SECOND),
      `${answered} answered: at most the stranger's burst and rate`,
    )
    assert.ok(answered >= 1, 'some answered: the seeder was reached (the test can tell)')
  })

  it("a stranger claiming the honest downloader's address, ten times its allowance a second: the download still completes, byte-identical", async (t) => {
    const bootstrap = await testnet(t)
    const { dir, id, sha } = await seeded(t, 600_000)
    const to = { host: '127.0.0.1', port: await freeUdpPort() }
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--dht-port', String(to.port)])
    const stranger = await attackerNode(t, bootstrap, STRANGER_HOST)
    const key = parsePeerId(line.peerId)
    let flooding = true
    let sent = 0
    const flood = (async () => {
      // Evenly, so that no gap leaves the honest address a token: 10 × the allowance a second, bounded in count too.
      while (flooding && sent < 10 * HANDSHAKES_PER_SECOND * 60) {
        for (let k = 0; k < HANDSHAKES_PER_SECOND / 5; k++, sent++)
          void forgedHandshake(stranger, key, to, { host: '127.0.0.1', port: 1024 + (sent % 60_000) })
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    try {
      await new Promise((resolve) => setTimeout(resolve, 2000))
      // Before, the honest address's allowance was spent by now: its burst, and the refill of those 2 s, twice over.
      assert.ok(sent >= 2 * (2 * HANDSHAKES_PER_SECOND + 2 * HANDSHAKES_PER_SECOND), `${sent} sent: the flood is on`)
      await downloadThroughDht(join(dir, 'd'), bootstrap, ['--id', id, '--wait', '20'], sha)
    } finally {
      flooding = false
      await flood
    }
    t.diagnostic(`${sent} forged handshakes sent`)
  })

  it("a relay of the seeder's naming the honest downloader's address, within its allowance: the sessions it makes give way, and the download completes, byte-identical", async (t) => {
    const { bootstrap, nodes } = await testnetNodes(t)
    const { dir, id, sha } = await seeded(t, 600_000)
    const to = { host: '127.0.0.1', port: await freeUdpPort() }
    const { line } = await dhtSeeder(t, join(dir, 'seed'), bootstrap, ['--dht-port', String(to.port)])
    const key = parsePeerId(line.peerId)
    // A node the seeder announced its key to (a testnet's but its first, the bootstrap node, which keeps no
    // records): it vouches for the addresses it names.
    const relay = nodes.at(-1)!
    let flooding = true
    let sent = 0
    const flood = (async () => {
      // Half its allowance a second: each makes a session to the downloader's address that never speaks.
      while (flooding && sent < 30 * HANDSHAKES_PER_SECOND) {
        void forgedHandshake(relay, key, to, { host: '127.0.0.1', port: 1024 + sent++ }, 'relay')
        await new Promise((resolve) => setTimeout(resolve, 2000 / HANDSHAKES_PER_SECOND))
      }
    })()
    try {
      // Before, its 16 were full of them by now, and every session of its own got E_BUSY.
      await new Promise((resolve) => setTimeout(resolve, 3000))
      await downloadThroughDht(join(dir, 'd'), bootstrap, ['--id', id, '--wait', '20'], sha)
    } finally {
      flooding = false
      await flood
    }
    t.diagnostic(`${sent} handshakes the relay passed on`)
  })
})
