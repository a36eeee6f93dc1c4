import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { sha256File } from '../helpers/files.js'
import { startStranger } from '../helpers/stranger.js'
import { freeUdpPort, runDownload, seeded, startSeeder } from '../helpers/swarm.js'

/**
 * A stranger forging a seeder's source address (on loopback, the seeder's own 127.0.0.1; on a LAN one forged
 * field of a UDP datagram) announces the seeder's file from a fresh port with a fresh peer ID in every
 * datagram, 2,000 a second: each is a new peer of that address, and the dictionary's 16 peers an address push
 * the seeder's claim out within a few milliseconds of each announcement (an attacker pass, fifty-seventh
 * session: 3 of 3 downloads by name `E_NO_PEER` after `--wait 10`, and `--peer` naming the seeder helped in 1
 * of 3). An allow-list drops the other peer IDs' claims before the dictionary, and a named peer's answers are
 * told from forged ones by our nonce said back: the download completes either way.
 */
describe('a flood of fresh ports with a seeder’s source address (real processes, loopback)', () => {
  // --allow: the claims of other peer IDs are dropped before the dictionary. --peer: the seeder's answers to our
  // unicast queries say back our nonce and are kept apart (listener.ts `vouched`; 1 of 3 downloads before).
  // Known: a seeder an earlier download reached with --peer is asked at start the same way.
  for (const way of ['--allow', '--peer', 'known'] as const)
    it(`does not keep a download by name ${way === 'known' ? 'from a seeder it knows' : `with ${way} from the seeder`}`, async (t) => {
      const { dir, sha, id } = await seeded(t, 500_000)
      const udp = await freeUdpPort()
      const seeder = await startSeeder(t, join(dir, 'seed'), udp, { interval: 1 })
      const known = join(dir, 'earlier', 'dictionary.json') // known_peers.json beside it
      if (way === 'known') {
        const earlier = await runDownload(join(dir, 'earlier'), udp, ['f.bin', '--peer', `127.0.0.1:${udp}`])
        assert.equal(earlier.code, 0, earlier.stderr)
      }
      const stranger = await startStranger(t, udp, '127.0.0.1')
      const file = { id, name: 'f.bin', size: 500_000, chunks: 2, have: 'all' }
      let sent = 0
      let port = 1024
      // Bounded: 20 datagrams every 10 ms, at most 24,000 (12 s), stopped when the download ends.
      const flood = setInterval(() => {
        for (let i = 0; i < 20 && sent < 24_000; i++, sent++) {
          port = port >= 65_535 ? 1024 : port + 1
          const peer = formatPeerId(randomBytes(32))
          void stranger.send(JSON.stringify({ v: 1, type: 'announce', peer, transport: 'noise', port, files: [file] }))
        }
      }, 10)
      t.after(() => clearInterval(flood))
      await new Promise((resolve) => setTimeout(resolve, 300)) // the flood under way before the download starts
      const args = {
        '--allow': ['--allow', seeder.peerId],
        '--peer': ['--peer', `127.0.0.1:${udp}`],
        known: ['--dictionary', known],
      }[way]
      const r = await runDownload(join(dir, 'd'), udp, ['f.bin', ...args, '--wait', '10'])
      clearInterval(flood)
      assert.ok(sent > 500, `the flood ran (${sent} datagrams)`)
      assert.equal(r.code, 0, r.stderr + r.log)
      assert.equal(await sha256File(r.result?.path as string), sha)
    })
})
