import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tmpDir } from '../helpers/files.js'
import { craftAnnouncement, startStranger } from '../helpers/stranger.js'
import { BROADCAST, freeUdpPort, startDaemon } from '../helpers/swarm.js'

/**
 * Listings under a crowd, with the real p2p-listen (attacker pass): one stranger (127.0.0.2) announcing 5,000
 * files filled its --json line (1 MiB) and its plain line's 50 names, and the honest file announced from
 * another address (127.0.0.3) was in neither. Loopback only; the flood is ~630 datagrams, sent once.
 */

const FLOOD = 5000
const PER_DATAGRAM = 8 // 8 entries and the header stay under 1,200 bytes
const HONEST = 'f'.repeat(64)

describe('p2p-listen under a crowd of one stranger', () => {
  it('lists the honest file in its --json line and its plain line while one address announces 5,000 files, and counts what it leaves out', async (t) => {
    const dir = await tmpDir(t)
    const udp = await freeUdpPort()
    const common = ['--udp-port', String(udp), '--broadcast', BROADCAST, '--ipv6', 'off', '--known-peers', 'off']
    const quiet = ['--stale-after', '60', '--logs-dir', join(dir, 'logs')]
    // Two listeners on one port (address reuse): both hear every datagram. stdout is a pipe: the plain line, not the table.
    const json = startDaemon(t, 'p2p-listen', ['--json', ...common, ...quiet, '--dictionary', join(dir, 'j.json')])
    const plain = startDaemon(t, 'p2p-listen', [...common, ...quiet, '--dictionary', join(dir, 'p.json')])
    const jsonLines = lastLines(json.child.stdout!)
    const plainLines = lastLines(plain.child.stdout!)
    await json.firstLine
    await until(() => plainLines.last() !== undefined, 10_000, 'p2p-listen printed nothing')
    const stranger = await startStranger(t, udp)
    const honest = await startStranger(t, udp, '127.0.0.3')
    for (let i = 0, sent = 0; i < FLOOD; i += PER_DATAGRAM, sent++) {
      if (sent % 5 === 0) await new Promise((r) => setTimeout(r, 20)) // bounded pace: the kernel would drop a burst, not the listener
      const files = []
      for (let k = i; k < Math.min(FLOOD, i + PER_DATAGRAM); k++)
        files.push({
          id: `c${k.toString(16).padStart(63, '0')}`,
          name: `a${String(k).padStart(5, '0')}.bin`,
          size: 1000,
          chunks: 1,
        })
      await stranger.send(craftAnnouncement('flood0001', 6000, files))
    }
    // Heard after the flood, and again every second as an announcer is: last in the dictionary's order.
    honest.repeat(
      craftAnnouncement('honest001', 7000, [{ id: HONEST, name: 'zz-honest.bin', size: 5000, chunks: 1 }]),
      1000,
    )

    // Most of the flood in, and the honest file heard: the line is full, and lists it.
    type Line = {
      ok: boolean
      files: Record<string, { name: string; peers: Array<{ address: string }> }>
      omitted: number
    }
    let line: Line | undefined
    await until(
      () => {
        const text = jsonLines.last()
        line = text === undefined ? undefined : (JSON.parse(text) as Line)
        return (
          line !== undefined && Object.keys(line.files).length + line.omitted > 4000 && line.files[HONEST] !== undefined
        )
      },
      20_000,
      () => `the honest file is not in the --json line: ${jsonLines.last()?.slice(0, 200)}… omitted ${line?.omitted}`,
    )
    assert.ok(Buffer.byteLength(jsonLines.last()!) <= 1024 * 1024)
    assert.equal(line!.ok, true)
    assert.ok(line!.omitted > 0, 'the flood does not fit the line')
    assert.deepEqual(
      line!.files[HONEST]!.peers.map((p) => p.address),
      ['127.0.0.3'],
    )
    t.diagnostic(
      `--json: ${Object.keys(line!.files).length} files listed, ${line!.omitted} omitted, ${Buffer.byteLength(jsonLines.last()!)} bytes`,
    )

    let counted = 0
    await until(
      () => {
        const text = plainLines.last() ?? ''
        counted = Number(/^(\d+) files, /.exec(text)?.[1] ?? 0)
        return counted > 4000 && text.includes('zz-honest.bin (1 peer)')
      },
      20_000,
      () => `the honest file is not in the plain line: ${plainLines.last()?.slice(0, 300)}`,
    )
    // Its 50 names, and "and N more" for the rest: every file counted once.
    const text = plainLines.last()!
    const more = Number(/ and (\d+) more$/.exec(text)?.[1])
    assert.equal(more, counted - 50, text.slice(-100))
    assert.equal(json.child.exitCode, null)
    assert.equal(await json.stop(), 0)
    assert.equal(await plain.stop(), 0)
  })
})

/** Keeps the last complete line a stream printed. */
function lastLines(stream: NodeJS.ReadableStream): { last(): string | undefined } {
  let pending = ''
  let last: string | undefined
  stream.on('data', (d: string) => {
    pending += d
    const nl = pending.lastIndexOf('\n')
    if (nl < 0) return
    const lines = pending.slice(0, nl).split('\n')
    last = lines.at(-1)
    pending = pending.slice(nl + 1)
  })
  return { last: () => last }
}

async function until(ok: () => boolean, ms: number, why: string | (() => string)): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    assert.ok(Date.now() < deadline, typeof why === 'string' ? why : why())
    await new Promise((r) => setTimeout(r, 50))
  }
}
