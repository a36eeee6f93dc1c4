import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import { onCleanup } from '../helpers/cleanup.js'
import { randomFile, tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, split, startDaemon, storeArgs } from '../helpers/swarm.js'

/**
 * A private swarm's datagrams on the wire, as a stranger sees them: an
 * attacker (fifty-first session) matched a sealed announcement's length,
 * byte for byte, to that of an open announcement of a guessed name and
 * size (345 = 293 + the seal's 52). Every sealed datagram is now padded to
 * the largest payload before it is sealed: one size, whatever it holds.
 */

describe('a private swarm’s datagrams are all one size (real p2p-announce, loopback)', () => {
  it('two stores of other names, sizes and file counts announce, and say goodbye, in datagrams of 1,200 bytes only', async (t) => {
    const dir = await tmpDir(t)
    const secret = generateSecret()
    const stores: Array<[string, Array<[string, number]>]> = [
      ['store-a', [['a', 5_000]]],
      [
        'store-b',
        [
          ['payroll-2027-layoffs.xlsx', 123_456],
          ['notes.txt', 10],
        ],
      ],
    ]
    const sizes = new Map<string, Set<number>>()
    for (const [store, files] of stores) {
      for (const [name, size] of files) {
        await (size > 10 ? randomFile(join(dir, name), size) : writeFile(join(dir, name), 'x'.repeat(size)))
        await split(join(dir, store), join(dir, name))
      }
      const udp = await freeUdpPort()
      const stranger = createSocket({ type: 'udp4', reuseAddr: true })
      stranger.bind(udp, BROADCAST) // a socket bound to the broadcast address hears what goes there, and nothing else
      await once(stranger, 'listening')
      onCleanup(t, () => new Promise<void>((resolve) => stranger.close(() => resolve())))
      const seen = new Set<number>()
      let datagrams = 0
      stranger.on('message', (bytes: Buffer) => {
        seen.add(bytes.length)
        datagrams++
      })
      const announce = startDaemon(t, 'p2p-announce', [
        ...['--json', '--port', '47010', '--udp-port', String(udp), '--broadcast', BROADCAST, '--ipv6', 'off'],
        ...['--secret', secret, ...storeArgs(join(dir, store))],
      ])
      await announce.firstLine
      const deadline = Date.now() + 10_000
      while (datagrams === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      const beforeGoodbye = datagrams
      await announce.stop()
      const after = Date.now() + 2_000
      while (datagrams === beforeGoodbye && Date.now() < after) await new Promise((r) => setTimeout(r, 20))
      assert.ok(beforeGoodbye > 0 && datagrams > beforeGoodbye, `a burst and a goodbye heard (${datagrams})`)
      sizes.set(store, seen)
    }
    assert.deepEqual(
      [...sizes.values()].map((s) => [...s]),
      [[1200], [1200]],
    )
  })
})
