import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'

/**
 * A packet capture inside one of the test's own namespaces (tcpdump on its
 * eth0, the host's end of a veth to the test bridge), for tests that check
 * what a stranger on the link would see. The capture goes to tcpdump's
 * stdout (pcap), so no file permission or profile gets in the way; `stop()`
 * returns its bytes. `payloads()` takes a pcap apart into the TCP streams
 * (reassembled by sequence number, per direction) and the UDP payloads it
 * holds, and `findWindow()` says whether any `window`-byte piece of some
 * content appears in a stream (a piece may straddle two packets: streams,
 * not packets, are searched).
 */

export interface Capture {
  /**
   * Resolves once `marker` is in the capture. tcpdump reads packets in
   * order, so after sending a datagram holding a marker last, this says
   * that everything sent before it has been captured (stopping at once may
   * lose the packets still in the kernel's buffer).
   */
  until(marker: Buffer, timeoutMs?: number): Promise<void>
  /** Stop tcpdump and return the pcap bytes. */
  stop(): Promise<Buffer>
}

export async function startCapture(ns: string, iface = 'eth0'): Promise<Capture> {
  // -U: write each packet at once; -s 0: whole packets; -B: a 64 MiB kernel buffer, so a fast transfer loses
  // nothing; -Z root: no privilege drop (stdout needs none anyway).
  const args = [
    'netns',
    'exec',
    ns,
    'tcpdump',
    '-i',
    iface,
    '-U',
    '-s',
    '0',
    '-B',
    '65536',
    '-n',
    '-Z',
    'root',
    '-w',
    '-',
  ]
  const child: ChildProcess = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: Buffer[] = []
  let waiting: { marker: Buffer; resolve: () => void } | undefined
  let searchedTo = 0
  const found = (marker: Buffer): boolean => {
    const all = Buffer.concat(chunks)
    const hit = all.indexOf(marker, Math.max(0, searchedTo - marker.byteLength)) !== -1
    searchedTo = all.byteLength
    return hit
  }
  child.stdout!.on('data', (d: Buffer) => {
    chunks.push(d)
    if (waiting && found(waiting.marker)) waiting.resolve()
  })
  let stderr = ''
  const exited = once(child, 'close')
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start in ${ns}: ${stderr}`)), 10_000)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      if (/listening on/.test(stderr)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`tcpdump exited (${code}) in ${ns}: ${stderr}`))
    })
  })
  return {
    until: (marker, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        searchedTo = 0
        if (found(marker)) return resolve()
        const timer = setTimeout(
          () => reject(new Error(`the capture in ${ns} did not see the marker within ${timeoutMs} ms`)),
          timeoutMs,
        )
        waiting = {
          marker,
          resolve: () => {
            clearTimeout(timer)
            waiting = undefined
            resolve()
          },
        }
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
      return Buffer.concat(chunks)
    },
  }
}

export interface Payloads {
  /** TCP payload per direction ("src:port>dst:port"), in sequence order, retransmissions once. */
  tcp: Map<string, Buffer>
  /** Every UDP payload, in capture order. */
  udp: Buffer[]
}

/** The TCP streams and UDP payloads of an Ethernet (or Linux cooked) IPv4 pcap. */
export function payloads(pcap: Buffer): Payloads {
  const tcp = new Map<string, Map<number, Buffer>>()
  const udp: Buffer[] = []
  const bases = new Map<string, number>()
  if (pcap.byteLength < 24) return { tcp: new Map(), udp }
  const little = pcap.readUInt32LE(0) === 0xa1b2c3d4 || pcap.readUInt32LE(0) === 0xa1b23c4d
  const u32 = (at: number): number => (little ? pcap.readUInt32LE(at) : pcap.readUInt32BE(at))
  const linkType = u32(20)
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : 0
  for (let at = 24; at + 16 <= pcap.byteLength; ) {
    const captured = u32(at + 8)
    const frame = pcap.subarray(at + 16, at + 16 + captured)
    at += 16 + captured
    const ip = frame.subarray(linkHeader)
    if (ip.byteLength < 20 || ip[0]! >> 4 !== 4) continue
    const ipHeader = (ip[0]! & 15) * 4
    const total = Math.min(ip.readUInt16BE(2), ip.byteLength)
    const protocol = ip[9]!
    const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`
    const dst = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`
    const l4 = ip.subarray(ipHeader, total)
    if (protocol === 17 && l4.byteLength >= 8) udp.push(Buffer.from(l4.subarray(8)))
    if (protocol !== 6 || l4.byteLength < 20) continue
    const data = l4.subarray((l4[12]! >> 4) * 4)
    if (data.byteLength === 0) continue
    const key = `${src}:${l4.readUInt16BE(0)}>${dst}:${l4.readUInt16BE(2)}`
    const segments = tcp.get(key) ?? new Map<number, Buffer>()
    const base = bases.get(key) ?? bases.set(key, l4.readUInt32BE(4)).get(key)!
    // Offsets from the first segment seen, signed, modulo 2^32 (sequence numbers wrap).
    const offset = ((((l4.readUInt32BE(4) - base + 2 ** 31) % 2 ** 32) + 2 ** 32) % 2 ** 32) - 2 ** 31
    // A retransmission may start where an earlier segment did and be shorter (a 64 KiB segment made by the
    // sender's offload, resent a segment at a time): the longer one stays.
    if ((segments.get(offset)?.byteLength ?? -1) < data.byteLength) segments.set(offset, Buffer.from(data))
    tcp.set(key, segments)
  }
  const streams = new Map<string, Buffer>()
  for (const [key, segments] of tcp) {
    const ordered = [...segments].sort((a, b) => a[0] - b[0])
    const parts: Buffer[] = []
    let next = ordered[0]![0]
    for (const [seq, data] of ordered) {
      if (seq + data.byteLength <= next) continue
      parts.push(data.subarray(Math.max(0, next - seq)))
      next = seq + data.byteLength
    }
    streams.set(key, Buffer.concat(parts))
  }
  return { tcp: streams, udp }
}

/**
 * Whether any `window`-byte piece of `content` appears in `haystack`. Every
 * such piece holds a whole block of `window / 2` bytes starting at a multiple
 * of `window / 2` in the content: blocks are indexed by their first 6 bytes,
 * the haystack is scanned once, and each candidate is checked in full.
 */
export function findWindow(haystack: Buffer, content: Buffer, window = 64): number | undefined {
  const block = window / 2
  const index = new Map<number, number[]>()
  const keyAt = (b: Buffer, at: number): number => b.readUIntBE(at, 6)
  for (let at = 0; at + block <= content.byteLength; at += block) {
    const key = keyAt(content, at)
    const list = index.get(key) ?? []
    list.push(at)
    index.set(key, list)
  }
  for (let at = 0; at + block <= haystack.byteLength; at++) {
    const candidates = index.get(keyAt(haystack, at))
    if (!candidates) continue
    for (const offset of candidates) {
      // Extend the block match both ways; a match of `window` bytes or more is a find.
      let before = 0
      while (before < offset && before < at && content[offset - before - 1] === haystack[at - before - 1]) before++
      let after = 0
      while (
        offset + after < content.byteLength &&
        at + after < haystack.byteLength &&
        content[offset + after] === haystack[at + after]
      )
        after++
      if (before + after >= window) return at - before
    }
  }
  return undefined
}
