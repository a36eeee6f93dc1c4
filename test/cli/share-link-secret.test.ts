import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { formatShareLink } from '../../src/core/discovery/share-link.js'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import { runBin } from '../helpers/cli.js'
import { tmpDir } from '../helpers/files.js'
import { downloadArgs, freeUdpPort } from '../helpers/swarm.js'

/**
 * A share link's secret against one given as well (a usability pass: `P2P_SECRET` exported, another swarm's link
 * opened; the link's secret was dropped without a word, and the download then blamed the firewall).
 */
describe("a share link's secret and one given as well", () => {
  it("another swarm's: refused at once (E_USAGE, exit 2), naming what to leave out; the same one: the download runs", async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const linked = generateSecret()
    const link = formatShareLink({ id: 'ab'.repeat(32), secret: linked })
    const other = await runBin('p2p-download', [link, '--wait', '1', ...downloadArgs(dir, udp)], {
      env: { ...process.env, P2P_SECRET: generateSecret() },
    })
    assert.equal(other.code, 2, other.stderr)
    assert.match(
      other.stderr,
      /the share link carries another swarm's secret than --secret, P2P_SECRET or --secret-file gives/,
    )
    const same = await runBin('p2p-download', [
      link,
      '--wait',
      '1',
      '--secret',
      linked,
      ...downloadArgs(join(dir, 's'), udp),
    ])
    assert.equal(same.code, 3, same.stderr) // no seeder: not found, after --wait
    const log = await readFile(join(dir, 's', 'logs', 'download.log'), 'utf8')
    assert.match(log, /"mode":"encrypted \(Noise\), private swarm [0-9a-f]{8}/, "the link's swarm, the one given")
  })
})
