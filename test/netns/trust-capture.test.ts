import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import { randomFile, sha256File } from '../helpers/files.js'
import { findWindow, payloads, startCapture } from './capture.js'
import { type Host, Lan, netnsAvailable } from './harness.js'

/**
 * What a stranger capturing the link sees of a download (issue 16): tcpdump
 * on the seeder's veth, inside the test's own namespaces, while a second
 * host downloads. Encrypted: neither the name nor any 64-byte window of the
 * content on TCP. Private swarm: not the name in UDP either. Plain: both are
 * there (so the search can find them, and the other cases can fail).
 */

const tcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).error === undefined
const skip = netnsAvailable() ?? (tcpdump ? undefined : 'tcpdump not installed')

async function sendMarker(from: Host, to: Host, marker: string): Promise<void> {
  const script = `import { createSocket } from 'node:dgram'
const s = createSocket('udp4')
s.send(Buffer.from(${JSON.stringify(marker)}), 7003, ${JSON.stringify(to.address)}, () => s.close())`
  const child = spawn('ip', ['netns', 'exec', from.ns, process.execPath, '--input-type=module', '-e', script], {
    stdio: 'ignore',
  })
  const [code] = await once(child, 'exit')
  assert.equal(code, 0)
}

describe('what a capture of the link shows (network namespaces, tcpdump)', { skip }, () => {
  let lan: Lan
  let root: string
  let h1: Host, h2: Host

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'p2p-trust-capture-'))
    lan = await Lan.create(root, 2)
    ;[h1, h2] = lan.hosts as [Host, Host]
  })
  afterEach(async () => {
    await lan?.reset()
  })
  after(async () => {
    await lan?.destroy()
    await rm(root, { recursive: true, force: true })
  })

  async function captured(mode: 'encrypted' | 'private' | 'plain') {
    const name = `holiday-${mode}-${randomBytes(4).toString('hex')}.bin`
    const source = join(root, name)
    const sha = await randomFile(source, 2 * 1024 * 1024 + 7)
    const content = await readFile(source)
    const args = mode === 'plain' ? ['--transport', 'plain'] : mode === 'private' ? ['--secret', generateSecret()] : []
    const split = h1.start('p2p-split', [source, '--json'])
    assert.equal(await split.exited, 0, split.stderr())
    const capture = await startCapture(h1.ns)
    h1.start('p2p-serve', args)
    h1.start('p2p-announce', [...args, '--interval', '0.5'])
    const d = h2.start('p2p-download', [name, '--json', '--downloads-dir', join(h2.dir, 'downloads'), ...args])
    assert.equal(await d.exited, 0, `${d.stderr()}\n${d.stdout()}`)
    assert.equal(await sha256File(join(h2.dir, 'downloads', name)), sha)
    const marker = `end-of-traffic-${randomBytes(8).toString('hex')}`
    await sendMarker(h1, h2, marker)
    await capture.until(Buffer.from(marker))
    const { tcp, udp } = payloads(await capture.stop())
    const streams = [...tcp.values()]
    return {
      tcpHasName: streams.some((s) => s.includes(name)),
      tcpWindow: streams.some((s) => findWindow(s, content) !== undefined),
      tcpBytes: streams.reduce((sum, s) => sum + s.byteLength, 0),
      udpHasName: udp.some((p) => p.includes(name)),
      udpDatagrams: udp.length,
    }
  }

  it('plain: the name and the content are on the wire (the search finds them)', async () => {
    const seen = await captured('plain')
    assert.ok(seen.tcpWindow && seen.tcpHasName && seen.udpHasName, JSON.stringify(seen))
  })

  it('encrypted (the default): no name and no 64-byte window of the content on TCP', async () => {
    const seen = await captured('encrypted')
    assert.ok(seen.tcpBytes > 2 * 1024 * 1024, JSON.stringify(seen)) // the file did cross this link
    assert.equal(seen.tcpWindow, false)
    assert.equal(seen.tcpHasName, false)
  })

  it('private swarm: not the name in UDP either', async () => {
    const seen = await captured('private')
    assert.ok(seen.tcpBytes > 2 * 1024 * 1024 && seen.udpDatagrams > 0, JSON.stringify(seen))
    assert.equal(seen.tcpWindow, false)
    assert.equal(seen.tcpHasName, false)
    assert.equal(seen.udpHasName, false)
  })
})
