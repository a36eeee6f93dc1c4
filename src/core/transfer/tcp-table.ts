import { isIPv4, isIPv6 } from 'node:net'

/**
 * Reading Linux's table of TCP sockets (/proc/net/tcp and /proc/net/tcp6):
 * how many bytes the kernel still holds unsent for one connection, found by
 * its four ends. Pure: the files are read elsewhere (unsent-bytes.ts).
 *
 * A line (after a header line) reads, for IPv4,
 *   `  12: 0100007F:BC52 0100007F:1F90 01 00001000:00000000 …`
 * slot, local address:port, remote address:port, state, tx_queue:rx_queue,
 * the timers, retransmits, uid, timeout, then the socket's inode (0 once no
 * descriptor holds it), then fields not used here. An address is printed as the 32-bit words of
 * its bytes in the machine's own order (%08X of each word: 127.0.0.1 is
 * 0100007F on a little-endian machine, 7F000001 on a big-endian one; an IPv6
 * address is four such words), a port as its number (%04X). tx_queue, for a
 * connection, is the bytes written and not yet acknowledged by the peer
 * (write_seq − snd_una): what the kernel still holds to send.
 *
 * A connection is keyed by its ends as tcp6 prints them, an IPv4 address
 * as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), and looked for as either
 * table prints it, so a dual-stack socket (listed in tcp6, named by Node as
 * ::ffff:127.0.0.1) and an IPv4 one (in tcp, named 127.0.0.1) are found
 * alike. An IPv6 zone (fe80::1%eth0) is not in the table.
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

/** An address's bytes (4 or 16) as the table prints them: each 32-bit word %08X in the machine's order. */
export function tableAddressText(bytes: Buffer, littleEndian: boolean): string {
  let text = ''
  for (let i = 0; i < bytes.length; i += 4) {
    const word = littleEndian ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i)
    text += word.toString(16).toUpperCase().padStart(8, '0')
  }
  return text
}

/** A connection's line: what the kernel holds unsent, and its socket's inode (another socket, another inode). */
export interface TableReading {
  unsent: number
  inode: string
}

const MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])

/**
 * A connection's ends as the tables print them (`LOCAL:PORT REMOTE:PORT`): in tcp6's form first, which is its key,
 * then in tcp's when both addresses are IPv4 (a dual-stack socket is listed in tcp6, an IPv4 one in tcp).
 * Undefined: an end missing (the socket closed) or not an address. Worked out once a connection, so that a line
 * is matched by one slice and one lookup, never parsed unless it is ours: the table holds every socket of the
 * network namespace, which anyone who can connect to us can grow (an attacker made it 24,000 lines, and parsing
 * each line had a poll hold the event loop 130 ms).
 */
export function tableEnds(ends: Partial<TcpEnds>, littleEndian: boolean): string[] | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = ends
  if (localAddress === undefined || remoteAddress === undefined) return undefined
  if (localPort === undefined || remotePort === undefined) return undefined
  const local = addressBytes(localAddress)
  const remote = addressBytes(remoteAddress)
  if (local === undefined || remote === undefined) return undefined
  const ports = [localPort, remotePort].map((p) => p.toString(16).toUpperCase().padStart(4, '0'))
  const text = (l: Buffer, r: Buffer): string =>
    `${tableAddressText(l, littleEndian)}:${ports[0]} ${tableAddressText(r, littleEndian)}:${ports[1]}`
  const both = local.subarray(0, 12).equals(MAPPED_PREFIX) && remote.subarray(0, 12).equals(MAPPED_PREFIX)
  return both ? [text(local, remote), text(local.subarray(12), remote.subarray(12))] : [text(local, remote)]
}

/**
 * The unsent bytes (tx_queue) and inode of every connection of `tables` (tcp, tcp6) whose ends (tableEnds) are
 * `wanted`, into `found` by key (the ends' first form; the most unsent, should a key be listed twice). Lines not
 * ours, and malformed ones, are passed over unparsed.
 */
export function unsentIn(
  tables: readonly string[],
  wanted: Iterable<readonly string[]>,
  found: Map<string, TableReading>,
): void {
  const byText = new Map<string, string>()
  for (const forms of wanted) for (const form of forms) byText.set(form, forms[0]!)
  if (byText.size > 0) for (const table of tables) linesOf(table, byText, found)
}

function linesOf(table: string, byText: ReadonlyMap<string, string>, found: Map<string, TableReading>): void {
  let at = table.indexOf('\n') + 1 // past the header line
  while (at > 0 && at < table.length) {
    const next = table.indexOf('\n', at)
    const end = next < 0 ? table.length : next
    const lineStart = at
    at = end + 1
    // `  12: LOCAL:PORT REMOTE:PORT ST TX:RX …`: the ends are what lies between the slot's ": " and the state.
    const slot = table.indexOf(': ', lineStart)
    if (slot < 0 || slot >= end) continue
    const between = table.indexOf(' ', slot + 2)
    const after = between < 0 ? -1 : table.indexOf(' ', between + 1)
    if (after < 0 || after > end) continue
    const k = byText.get(table.slice(slot + 2, after))
    if (k === undefined) continue
    const fields = table
      .slice(after + 1, end)
      .trim()
      .split(/\s+/)
    const tx = /^([0-9A-Fa-f]{1,8}):/.exec(fields[1] ?? '')
    if (SKIPPED_STATES.has(fields[0]!) || !tx) continue
    const unsent = Number.parseInt(tx[1]!, 16)
    const before = found.get(k)
    if (before === undefined || unsent > before.unsent) found.set(k, { unsent, inode: fields[6] ?? '' })
  }
}
