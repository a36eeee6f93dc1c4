import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { findWindow, payloads, startCapture } from './capture.js'
import { type Host, Lan, netnsAvailable } from './harness.js'

/**
 * The capture helper on plain traffic: what one host sends another over
 * TCP and UDP is in the capture of its link, whole (streams reassembled),
 * and bytes it never sent are not.
 */

const MARKER = `end-of-traffic-${randomBytes(8).toString('hex')}`
const skip = netnsAvailable() ?? (spawnable('tcpdump') ? undefined : 'tcpdump not installed')

function spawnable(command: string): boolean {
  try {
    return spawn(command, ['--version'], { stdio: 'ignore' }).pid !== undefined
  } catch {
    return false
  }
}

/** Run a small node script inside a host's namespace; resolves with its stdout when it exits 0. */
async function runIn(host: Host, script: string): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
  })
  const [code] = await once(child, 'close')
  assert.equal(code, 0, `script failed in ${host.ns}`)
  return out
}

describe('packet capture in a namespace (test infrastructure)', { skip }, () => {
  let lan: Lan
  let root: string

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'p2p-capture-'))
    lan = await Lan.create(root, 2)
  })
  after(async () => {
    await lan?.destroy()
    await rm(root, { recursive: true, force: true })
  })

  it('sees the bytes of a plain TCP stream and a UDP datagram, and not bytes never sent', async () => {
    const [h1, h2] = lan.hosts as [Host, Host]
    const content = randomBytes(2 * 1024 * 1024)
    const never = randomBytes(64 * 1024)
    const file = join(root, 'content.bin')
    await writeFile(file, content)
    const capture = await startCapture(h1.ns)
    const receiver = spawn(
      'ip',
      [
        'netns',
        'exec',
        h2.ns,
        process.execPath,
        '--input-type=module',
        '-e',
        `
      import { createServer } from 'node:net'
      let got = 0
      const server = createServer((s) => s.on('data', (d) => { got += d.length }).on('end', () => { console.log(got); server.close() }))
      server.listen(7001, () => console.log('ready'))
    `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const receiverExit = once(receiver, 'close')
    let received = ''
    receiver.stdout!.setEncoding('utf8').on('data', (d: string) => {
      received += d
    })
    while (!received.includes('ready')) await once(receiver.stdout!, 'data')
    await runIn(
      h1,
      `
      import { connect } from 'node:net'
      import { createSocket } from 'node:dgram'
      import { readFileSync } from 'node:fs'
      const udp = createSocket('udp4')
      await new Promise((r) => udp.send(Buffer.from('{"name":"holiday-secret.mp4"}'), 7002, '${h2.address}', r))
      udp.close()
      const s = connect(7001, '${h2.address}')
      s.end(readFileSync(${JSON.stringify(file)}))
      await new Promise((r) => s.on('close', r))
      const marker = createSocket('udp4')
      await new Promise((r) => marker.send(Buffer.from('${MARKER}'), 7003, '${h2.address}', r))
      marker.close()
    `,
    )
    await capture.until(Buffer.from(MARKER))
    await receiverExit
    assert.equal(Number(received.split('\n')[1]), content.byteLength)
    const pcap = await capture.stop()
    const { tcp, udp } = payloads(pcap)
    const stream = tcp.get(
      `${h1.address}:${
        [...tcp.keys()]
          .find((k) => k.startsWith(`${h1.address}:`))!
          .split('>')[0]!
          .split(':')[1]
      }>${h2.address}:7001`,
    )
    assert.ok(stream, `the stream to port 7001 is in the capture (${[...tcp.keys()].join(', ')})`)
    assert.equal(stream.byteLength, content.byteLength, 'reassembled whole')
    assert.equal(findWindow(stream, content), 0)
    assert.notEqual(
      findWindow(stream, content.subarray(1_000_003, 1_000_003 + 64)),
      undefined,
      'a window straddling packets is found',
    )
    assert.equal(findWindow(stream, never), undefined)
    assert.ok(udp.some((d) => d.includes('holiday-secret.mp4')))
    assert.ok(pcap.includes(Buffer.from('holiday-secret.mp4')))
  })
})

describe('packet capture: reassembly (no namespace needed)', () => {
  /** A pcap (Ethernet, IPv4) of TCP segments from 10.0.0.1:5000 to 10.0.0.2:7001: [sequence number, payload]. */
  function pcapOf(segments: Array<[number, Buffer]>): Buffer {
    const header = Buffer.alloc(24)
    header.writeUInt32LE(0xa1b2c3d4, 0)
    header.writeUInt16LE(2, 4)
    header.writeUInt16LE(4, 6)
    header.writeUInt32LE(262144, 16)
    header.writeUInt32LE(1, 20)
    const records = segments.map(([seq, data]) => {
      const ip = Buffer.alloc(40)
      ip[0] = 0x45
      ip.writeUInt16BE(40 + data.byteLength, 2)
      ip[9] = 6
      ip.set([10, 0, 0, 1, 10, 0, 0, 2], 12)
      ip.writeUInt16BE(5000, 20)
      ip.writeUInt16BE(7001, 22)
      ip.writeUInt32BE(seq >>> 0, 24)
      ip[32] = 5 << 4
      const frame = Buffer.concat([Buffer.alloc(14), ip, data])
      const record = Buffer.alloc(16)
      record.writeUInt32LE(frame.byteLength, 8)
      record.writeUInt32LE(frame.byteLength, 12)
      return Buffer.concat([record, frame])
    })
    return Buffer.concat([header, ...records])
  }

  it('a shorter retransmission from where a longer segment began leaves the stream whole', () => {
    const content = randomBytes(5 * 1448)
    const start = 2 ** 32 - 3000 // sequence numbers wrap within the stream
    const at = (offset: number, length: number): [number, Buffer] => [
      (start + offset) % 2 ** 32,
      content.subarray(offset, offset + length),
    ]
    for (const order of [
      [at(0, 1448), at(1448, 4 * 1448), at(1448, 1448), at(2896, 1448)],
      [at(0, 1448), at(1448, 1448), at(1448, 4 * 1448)],
    ]) {
      const stream = payloads(pcapOf(order)).tcp.get('10.0.0.1:5000>10.0.0.2:7001')
      assert.ok(stream?.equals(content), 'the stream is the content, once')
    }
    const gap = payloads(pcapOf([at(0, 1448), at(2896, 1448)])).tcp.get('10.0.0.1:5000>10.0.0.2:7001')
    assert.equal(gap?.byteLength, 2896, 'a segment never captured is missing (the whole-stream check catches it)')
  })
})
