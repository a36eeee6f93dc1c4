import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { freeUdpPort, runDownload, seeded, startSeeder } from '../helpers/swarm.js'

/**
 * A seeder whose p2p-serve, p2p-announce and the download do not all run with the same `--transport`, on real
 * processes over loopback (a UX audit): the download by name said "is a seeder running?" (E_NOT_FOUND, exit 3) of
 * a seeder that was there, or one line holding two codes ("… [E_AUTH]): is a seeder running? [E_NOT_FOUND]").
 * Now one line, one code: E_AUTH (exit 4) when a server answered in the other transport, naming what the peer
 * did and the one fix; E_NOT_FOUND (exit 3) as before when only its announcements say so (any host may forge one),
 * with what they say.
 */

const PLAIN = ['--transport', 'plain']
const FIX = ': run p2p-serve, p2p-announce and p2p-download with the same --transport'
const CHECK = ": check which --transport your seeder runs \\(an announcement's transport can be forged\\)"

/** Each case: the seeder's options (startSeeder), the download's, its code, and what the error says after "in time". */
const cases: Array<
  [string, { serveExtra?: string[]; extra?: string[]; announceExtra?: string[] }, string[], string, string]
> = [
  [
    'A: p2p-serve plain beside a default p2p-announce, a default download',
    { serveExtra: PLAIN },
    [],
    'E_AUTH',
    `: the peer that has it \\(127\\.0\\.0\\.1:PORT\\) announced the encrypted transport but its server speaks the plain one${FIX}`,
  ],
  [
    'B: the same seeder, a download with --transport plain',
    { serveExtra: PLAIN },
    PLAIN,
    'E_NOT_FOUND',
    `: is a seeder running\\? \\(the peer that has it \\(127\\.0\\.0\\.1:PORT\\) announces the encrypted transport, this download speaks the plain one${CHECK}\\).*`,
  ],
  [
    'C: p2p-serve and p2p-announce plain, a default download',
    { extra: PLAIN },
    [],
    'E_NOT_FOUND',
    `: is a seeder running\\? \\(the peer that has it \\(127\\.0\\.0\\.1:PORT\\) announces the plain transport, this download speaks the encrypted one${CHECK}\\).*`,
  ],
  [
    'D: a default p2p-serve beside p2p-announce plain, a download with --transport plain',
    { announceExtra: PLAIN },
    PLAIN,
    'E_AUTH',
    `: the peer that has it \\(127\\.0\\.0\\.1:PORT\\) announced the plain transport but its server speaks the encrypted one${FIX}`,
  ],
]

describe('a download whose only seeder speaks the other transport', () => {
  for (const [name, seeder, download, code, says] of cases)
    it(`${name}: one line, ${code} alone, saying what the peer speaks`, async (t) => {
      const { dir } = await seeded(t, 200_000)
      const udp = await freeUdpPort()
      const { port } = await startSeeder(t, join(dir, 'seed'), udp, seeder)
      const r = await runDownload(join(dir, 'd'), udp, ['f.bin', '--wait', '3', ...download])
      assert.equal(r.code, code === 'E_AUTH' ? 4 : 3, r.stderr + r.log)
      assert.equal(r.result?.code, code)
      const lines = r.stderr.trimEnd().split('\n')
      const error = lines.at(-1)!
      assert.match(
        error,
        new RegExp(
          `^(\\x1b\\[[0-9;]*m)?Error:(\\x1b\\[[0-9;]*m)? no peer delivered the manifest of [0-9a-f]{64} in time${says.replace('PORT', String(port))} \\[${code}\\]$`,
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
