import { isIPv4, isIPv6 } from 'node:net'

/**
 * Reading Linux's table of TCP sockets (/proc/net/tcp and /proc/net/tcp6):
 * how many bytes the kernel still holds unsent for one connection, found by
 * its four ends. Pure: the files are read elsewhere (unsent-bytes.ts).
 *
 * A line (after a header line) reads, for IPv4,
 *   `  12: 0100007F:BC52 0100007F:1F90 01 00001000:00000000 …`
 * slot, local address:port, remote address:port, state, tx_queue:rx_queue,
 * then fields not used here. An address is printed as the 32-bit words of
 * its bytes in the machine's own order (%08X of each word: 127.0.0.1 is
 * 0100007F on a little-endian machine, 7F000001 on a big-endian one; an IPv6
 * address is four such words), a port as its number (%04X). tx_queue, for a
 * connection, is the bytes written and not yet acknowledged by the peer
 * (write_seq − snd_una): what the kernel still holds to send.
 *
 * Both sides are keyed by the address as 16 bytes, an IPv4 one as its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), so a dual-stack socket (listed in
 * tcp6, named by Node as ::ffff:127.0.0.1) and an IPv4 one (in tcp, named
 * 127.0.0.1) are found alike. An IPv6 zone (fe80::1%eth0) is not in the table.
 */

export interface TcpEnds {
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
}

/** TIME_WAIT (no socket of ours any more) and LISTEN (a queue of connections, not bytes) lines are passed over. */
const SKIPPED_STATES = new Set(['06', '0A'])

/** An address as Node names it, as 16 bytes (IPv4 as IPv4-mapped IPv6), or undefined if it is not one. */
export function addressBytes(text: string): Buffer | undefined {
  const address = text.split('%')[0]!
  if (isIPv4(address)) return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...address.split('.').map(Number)])
  if (!isIPv6(address)) return undefined
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  const v4 = dotted ? addressBytes(dotted[2]!)!.subarray(12) : undefined
  // With its IPv4 tail written as two groups, the address is groups only.
  const groups = v4 ? `${dotted![1]}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}` : address
  const [head = '', tail] = groups.split('::')
  const front = head ? head.split(':') : []
  const back = tail ? tail.split(':') : []
  const all =
    tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back]
  const out = Buffer.alloc(16)
  for (const [i, group] of all.entries()) out.writeUInt16BE(Number.parseInt(group, 16), i * 2)
  return out
}

/** An address as the table prints it (8 or 32 hex digits), as 16 bytes; undefined if malformed. */
export function tableAddressBytes(hex: string, littleEndian: boolean): Buffer | undefined {
  if ((hex.length !== 8 && hex.length !== 32) || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined
  const words = Buffer.alloc(hex.length / 2)
  for (let i = 0; i < hex.length; i += 8) {
    const word = Number.parseInt(hex.slice(i, i + 8), 16)
    if (littleEndian) words.writeUInt32LE(word, i / 2)
    else words.writeUInt32BE(word, i / 2)
  }
  if (words.length === 16) return words
  return Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), words])
}

function tablePort(hex: string | undefined): number | undefined {
  return hex !== undefined && /^[0-9A-Fa-f]{4}$/.test(hex) ? Number.parseInt(hex, 16) : undefined
}

function key(local: Buffer, localPort: number, remote: Buffer, remotePort: number): string {
  return `${local.toString('hex')}.${localPort}>${remote.toString('hex')}.${remotePort}`
}

/** The key a connection is found by in the table (undefined: an end missing or not an address). */
export function endsKey(ends: Partial<TcpEnds>): string | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = ends
  if (localAddress === undefined || remoteAddress === undefined) return undefined
  if (localPort === undefined || remotePort === undefined) return undefined
  const local = addressBytes(localAddress)
  const remote = addressBytes(remoteAddress)
  if (local === undefined || remote === undefined) return undefined
  return key(local, localPort, remote, remotePort)
}

/**
 * The unsent bytes (tx_queue) of every connection of `table` whose key is in `wanted`, into `found`
 * (the most, should a key be listed twice). Malformed lines are passed over.
 */
export function unsentIn(
  table: string,
  wanted: ReadonlySet<string>,
  littleEndian: boolean,
  found: Map<string, number>,
): void {
  let at = table.indexOf('\n') + 1 // past the header line
  while (at > 0 && at < table.length) {
    const next = table.indexOf('\n', at)
    const line = table.slice(at, next < 0 ? table.length : next)
    at = next + 1
    const fields = line.trim().split(/\s+/)
    if (fields.length < 5 || SKIPPED_STATES.has(fields[3]!)) continue
    const [localHex, localPortHex] = fields[1]!.split(':')
    const [remoteHex, remotePortHex] = fields[2]!.split(':')
    const local = tableAddressBytes(localHex ?? '', littleEndian)
    const remote = tableAddressBytes(remoteHex ?? '', littleEndian)
    const localPort = tablePort(localPortHex)
    const remotePort = tablePort(remotePortHex)
    const tx = /^([0-9A-Fa-f]{1,8}):/.exec(fields[4]!)
    if (!local || !remote || localPort === undefined || remotePort === undefined || !tx) continue
    const k = key(local, localPort, remote, remotePort)
    if (!wanted.has(k)) continue
    found.set(k, Math.max(found.get(k) ?? 0, Number.parseInt(tx[1]!, 16)))
  }
}
