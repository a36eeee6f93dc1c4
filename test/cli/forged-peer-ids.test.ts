import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { onCleanup } from '../helpers/cleanup.js'
import { sha256File } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, runDownload, seeded, startSeeder } from '../helpers/swarm.js'

/**
 * A stranger forging a seeder's address (its port, its file) with two peer
 * IDs in turn, hundreds of datagrams a second (an attacker pass, fifty-first
 * session): the download looked at the newest peer ID ten times a second, so
 * it never saw the seeder's own, and every download by id failed E_NOT_FOUND
 * after its wait (with `--allow`, the forged IDs were never dialled, never
 * refused, and ranked above the seeder's). Now every ID heard for the
 * address is tried, each forged one refused once; with `--allow` the
 * unlisted ones are not heeded at all.
 */

describe('forged peer IDs for a seeder’s address (real processes, loopback)', () => {
  for (const allow of [false, true]) {
    it(`two forged peer IDs sent in turn every 2 ms do not keep a download by id from the seeder${allow ? ' (--allow listing it: nothing refused)' : ' (each refused once)'}`, async (t) => {
      const { dir, id, sha } = await seeded(t, 500_000)
      const udp = await freeUdpPort()
      const seeder = await startSeeder(t, join(dir, 'seed'), udp, { interval: 5 })
      const forgedIds = [formatPeerId(randomBytes(32)), formatPeerId(randomBytes(32))]
      const file = { id, name: 'f.bin', size: 500_000, chunks: 2, have: 'all' }
      const forged = forgedIds.map((peer) =>
        Buffer.from(
          JSON.stringify({ v: 1, type: 'announce', peer, transport: 'noise', port: seeder.port, files: [file] }),
        ),
      )
      const socket = createSocket({ type: 'udp4', reuseAddr: true })
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
      socket.setBroadcast(true)
      let sent = 0
      // Bounded: at most 15,000 datagrams (at least 15 s), stopped when the download ends. Both IDs each tick: a
      // loaded test process ticks every 5–10 ms, not 2 (ci: 91 datagrams in a 650 ms download, one ID a tick).
      const forging = setInterval(() => {
        if (sent >= 15_000) return clearInterval(forging)
        for (const datagram of forged) socket.send(datagram, udp, BROADCAST)
        sent += forged.length
      }, 2)
      onCleanup(t, () => {
        clearInterval(forging)
        socket.close()
      })
      const allowArgs = allow ? ['--allow', seeder.peerId] : []
      const sentBefore = sent
      const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '20', ...allowArgs])
      clearInterval(forging)
      // Counted over the download process's life (its start included): that the forgery ran, not what it heard.
      assert.ok(sent - sentBefore >= 40, `the forgery ran beside the download (${sent - sentBefore} datagrams)`)
      assert.equal(r.code, 0, r.stderr + r.log)
      assert.equal(await sha256File(r.result?.path as string), sha)
      const refused = ((r.result?.refused ?? []) as Array<{ peerId?: string }>).map((p) => p.peerId)
      // Which forged IDs were tried before the seeder's depends on what each poll saw: at most each once.
      if (allow) assert.deepEqual(refused, [], 'unlisted forged IDs are never dialled')
      assert.equal(new Set(refused).size, refused.length, 'each refused at most once')
      for (const id of refused) assert.ok(forgedIds.includes(id!), 'only forged IDs refused')
    })
  }
})
