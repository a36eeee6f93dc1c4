import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { freeUdpPort, runDownload, seeded, startSeeder } from '../helpers/swarm.js'

/**
 * A seeder whose p2p-serve, p2p-announce and the download do not all run with the same `--transport`, on real
 * processes over loopback (a UX audit): the download by name said "is a seeder running?" (E_NOT_FOUND, exit 3) of
 * a seeder that was there, or one line holding two codes ("… [E_AUTH]): is a seeder running? [E_NOT_FOUND]").
 * Now one line, one code, E_AUTH (exit 4), naming what the peer did and the one fix.
 */

const PLAIN = ['--transport', 'plain']
const FIX = ': run every command \\(p2p-serve, p2p-announce, p2p-download\\) with the same --transport'

/** Each case: the seeder's options (startSeeder), the download's, and what the peer did as the error says it. */
const cases: Array<[string, { serveExtra?: string[]; extra?: string[]; announceExtra?: string[] }, string[], string]> =
  [
    [
      'A: p2p-serve plain beside a default p2p-announce, a default download',
      { serveExtra: PLAIN },
      [],
      'announced the encrypted transport but its server speaks the plain one',
    ],
    [
      'B: the same seeder, a download with --transport plain',
      { serveExtra: PLAIN },
      PLAIN,
      'announces the encrypted transport and this download speaks the plain one',
    ],
    [
      'C: p2p-serve and p2p-announce plain, a default download',
      { extra: PLAIN },
      [],
      'announces the plain transport and this download speaks the encrypted one',
    ],
    [
      'D: a default p2p-serve beside p2p-announce plain, a download with --transport plain',
      { announceExtra: PLAIN },
      PLAIN,
      'announced the plain transport but its server speaks the encrypted one',
    ],
  ]

describe('a download whose only seeder speaks the other transport', () => {
  for (const [name, seeder, download, did] of cases)
    it(`${name}: one line, E_AUTH alone (exit 4), saying so and to use the same --transport`, async (t) => {
      const { dir } = await seeded(t, 200_000)
      const udp = await freeUdpPort()
      const { port } = await startSeeder(t, join(dir, 'seed'), udp, seeder)
      const r = await runDownload(join(dir, 'd'), udp, ['f.bin', '--wait', '3', ...download])
      assert.equal(r.code, 4, r.stderr + r.log)
      assert.equal(r.result?.code, 'E_AUTH')
      const lines = r.stderr.trimEnd().split('\n')
      const error = lines.at(-1)!
      assert.match(
        error,
        new RegExp(
          `^(\\x1b\\[[0-9;]*m)?Error:(\\x1b\\[[0-9;]*m)? no peer delivered the manifest of [0-9a-f]{12}… in time: the peer that has it \\(127\\.0\\.0\\.1:${port}\\) ${did}${FIX} \\[E_AUTH\\]$`,
        ),
      )
      assert.equal(error.match(/\[E_[A-Z_]+\]/g)?.length, 1, error)
      assert.ok(!lines.slice(0, -1).some((l) => /Error:/.test(l)), r.stderr)
    })

  it('with no seeder at all it still asks whether one is running (E_NOT_FOUND, exit 3)', async (t) => {
    const { dir, id } = await seeded(t, 10_000)
    const udp = await freeUdpPort()
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '0.5'])
    assert.equal(r.code, 3, r.stderr + r.log)
    assert.match(r.stderr, /in time: is a seeder running\?.* \[E_NOT_FOUND\]\n$/)
    assert.equal(r.stderr.match(/\[E_[A-Z_]+\]/g)?.length, 1, r.stderr)
  })
})
