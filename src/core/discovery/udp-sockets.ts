import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { P2PError } from '../errors.js'
import { isMulticastV6, withZone, zoneOf } from './multicast.js'

/**
 * UDP sockets for discovery, one per address family: an IPv6 socket is
 * IPv6-only (IPv4 has its own), so `--ipv4 off` / `--ipv6 off` simply leave
 * one out and a datagram's source is never an IPv4-mapped address.
 *
 * Sockets on the discovery port are bound with SO_REUSEADDR, so every
 * process on a host receives every broadcast and multicast datagram. A
 * unicast datagram, though, goes to ONE of the sockets bound to the port:
 * one bound to the destination address itself if there is one, else the
 * wildcard socket bound last (Linux). An announcer must get the unicast
 * queries of named and known peers even when a listener bound the port after
 * it, so it also binds the port on each of the host's own addresses
 * (bindUnicastReceivers).
 */

export type Family = 4 | 6

export interface BindOptions {
  family: Family
  port: number
  /** Default: the wildcard address of the family. */
  address?: string
  reuseAddr: boolean
  onMessage: (msg: Buffer, from: RemoteInfo, socket: Socket) => void
  onError: (err: Error, socket: Socket) => void
}

export function familyOf(address: string): Family {
  return isIPv6(address) ? 6 : 4
}

/**
 * What to change when a bind fails (as server-listen.ts says it for TCP). Our own sockets share the discovery port,
 * so one in use is held by a program that does not share it.
 */
const UDP_BIND_HINTS: Record<string, string> = {
  EADDRINUSE: 'another program holds it without sharing it: use another --udp-port',
  EADDRNOTAVAIL: 'not an address of this machine',
  EACCES: 'a port under 1024 needs privileges: use another --udp-port',
}

/** A bound socket, or E_USAGE naming the address and port (in use, no such address, …) and what to change. */
export async function bindUdp(options: BindOptions): Promise<Socket> {
  const socket = createSocket({
    type: options.family === 6 ? 'udp6' : 'udp4',
    reuseAddr: options.reuseAddr,
    ipv6Only: options.family === 6,
  })
  const address = options.address ?? (options.family === 6 ? '::' : '0.0.0.0')
  socket.on('message', (msg, rinfo) => options.onMessage(msg, rinfo, socket))
  socket.on('error', (err) => options.onError(err, socket))
  try {
    socket.bind(options.port, address)
    await Promise.race([
      once(socket, 'listening'),
      once(socket, 'error').then(([err]) => {
        throw err
      }),
    ])
  } catch (err) {
    socket.close()
    const where = options.family === 6 ? `[${address}]:${options.port}` : `${address}:${options.port}`
    const code = (err as NodeJS.ErrnoException).code
    const hint = code === undefined ? undefined : UDP_BIND_HINTS[code]
    throw new P2PError(
      'E_USAGE',
      `cannot listen on UDP ${where}: ${code ?? (err as Error).message}${hint ? ` (${hint})` : ''}`,
    )
  }
  if (options.family === 4) socket.setBroadcast(true)
  return socket
}

/**
 * Whether `name` is an interface of this host now. libuv maps an unknown
 * zone to interface 0 without a word, and the kernel then picks an interface
 * for a group by its routes: a mistyped name must never get that far.
 */
export function interfaceExists(name: string): boolean {
  return Object.hasOwn(networkInterfaces(), name)
}

export interface JoinReport {
  joined: Array<{ group: string; interface: string }>
  failed: Array<{ interface: string; reason: string }>
}

/** Join each group on its interface. An interface that refuses (gone, IPv6 off on it) is reported, not fatal. */
export function joinGroups(
  socket: Socket,
  groups: ReadonlyArray<{ group: string; interface: string }>,
  exists = interfaceExists,
): JoinReport {
  const report: JoinReport = { joined: [], failed: [] }
  for (const { group, interface: name } of groups) {
    if (!exists(name)) {
      report.failed.push({ interface: name, reason: 'no such interface' })
      continue
    }
    try {
      // The membership's interface is given as an address with that interface as its zone (Node's form).
      socket.addMembership(group, withZone('::', name))
      report.joined.push({ group, interface: name })
    } catch (err) {
      report.failed.push({ interface: name, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message })
    }
  }
  return report
}

/**
 * Send one datagram; resolves with the error instead of throwing (a
 * destination taken from a datagram's source can be anything, even port 0,
 * which send() throws on). A link-scoped destination carries its interface as
 * a zone (multicast.ts).
 */
export function sendDatagram(
  socket: Socket,
  datagram: Uint8Array,
  port: number,
  address: string,
  exists = interfaceExists,
): Promise<Error | undefined> {
  const zone = zoneOf(address)
  if (isMulticastV6(address) && (zone === undefined || !exists(zone))) {
    return Promise.resolve(new Error(`${address}: a multicast destination needs the zone of an interface of this host`))
  }
  return new Promise((resolve) => {
    try {
      socket.send(datagram, port, address, (err) => resolve(err ?? undefined))
    } catch (err) {
      resolve(err as Error)
    }
  })
}

export async function closeSockets(sockets: Iterable<Socket | undefined>): Promise<void> {
  await Promise.all(
    [...sockets].map(
      (socket) =>
        socket &&
        new Promise<void>((resolve) => {
          try {
            socket.close(() => resolve())
          } catch {
            resolve() // already closed
          }
        }),
    ),
  )
}

export interface UnicastReceivers {
  sockets: Socket[]
  failed: Array<{ address: string; reason: string }>
}

/**
 * The discovery port bound on each of `addresses` (the host's own, link-local
 * ones with their zone), with address reuse, so unicast datagrams to them come
 * here before any wildcard socket. An address that cannot be bound (it went
 * away, still tentative) is reported and skipped.
 */
export async function bindUnicastReceivers(
  addresses: readonly string[],
  port: number,
  handlers: Pick<BindOptions, 'onMessage' | 'onError'>,
): Promise<UnicastReceivers> {
  const out: UnicastReceivers = { sockets: [], failed: [] }
  for (const address of addresses) {
    try {
      out.sockets.push(await bindUdp({ family: familyOf(address), port, address, reuseAddr: true, ...handlers }))
    } catch (err) {
      out.failed.push({ address, reason: (err as Error).message })
    }
  }
  return out
}
