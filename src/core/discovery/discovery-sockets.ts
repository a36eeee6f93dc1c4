import type { RemoteInfo, Socket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { type Logger, silentLogger } from '../log.js'
import { GroupMemberships } from './group-memberships.js'
import type { FamilyOptions } from './interfaces.js'
import { bindUdp, closeSockets, type Family, familyOf, sendDatagram } from './udp-sockets.js'

/**
 * The sockets of one discovery endpoint, IPv4 and IPv6 side by side: where
 * datagrams come in and go out. The announcer and the listener each keep one
 * on the shared discovery port (address reuse; the IPv6 socket in the group
 * on each interface; the announcer also on each of the host's addresses, see
 * udp-sockets.ts), but a listener in the announcer's process (`--seed`) hears
 * the port through the announcer's (listener.ts `sharedPort`); and the
 * listener one more on ports of its own for its queries (their answers come
 * back there, to this process alone).
 *
 * This is the one place datagrams cross into and out of the process: a
 * received datagram is handed on with where it came from and a reply()
 * that answers from the socket it arrived on (so the answer's source is the
 * address the querier asked), and send() picks the socket of the
 * destination's family. Neither throws for a bad destination: a send that
 * cannot go is logged at debug level and reported as false.
 */

export interface Datagram {
  bytes: Buffer
  from: { address: string; port: number; family: Family }
  /**
   * It came to a socket bound to one of this host's addresses, so it was sent to this host alone; false: to the
   * wildcard socket, where broadcasts and the IPv6 group arrive (and unicast to an address no socket could bind).
   */
  toHost: boolean
  /** Answer from the socket the datagram arrived on. */
  reply(bytes: Uint8Array): Promise<boolean>
}

export interface DiscoverySocketsOptions {
  /** The port to bind with address reuse; 0: a port of its own for each family. */
  port: number
  families: FamilyOptions
  /** Groups the IPv6 socket joins. */
  groups?: ReadonlyArray<{ group: string; interface: string }>
  /** Also bind the port on each of these addresses of the host (link-local ones with their zone). */
  unicastAddresses?: readonly string[]
  /** Bind IPv4 here instead of 0.0.0.0. */
  bindAddress?: string
  log?: Logger
  onDatagram: (d: Datagram) => void
}

export class DiscoverySockets {
  private readonly wildcard = new Map<Family, Socket>()
  private readonly unicast = new Map<string, Socket>()
  private readonly memberships: GroupMemberships
  /** The host addresses the port should be bound on (the last sync's), bound or not. */
  private wanted = new Set<string>()
  /** The last sync's groups: retryUnbound() syncs them again. */
  private groups: ReadonlyArray<{ group: string; interface: string }> = []
  private readonly log: Logger
  private stopped = false
  private syncing: Promise<void> = Promise.resolve()

  constructor(private readonly options: DiscoverySocketsOptions) {
    this.log = options.log ?? silentLogger()
    this.memberships = new GroupMemberships(this.log)
  }

  /**
   * Bind. IPv4 failing is fatal (E_USAGE, as before IPv6 existed); IPv6
   * failing (the host has it disabled) is a warning unless IPv4 is off.
   */
  async start(): Promise<void> {
    const { families, port } = this.options
    if (families.ipv4) this.wildcard.set(4, await this.bind(4, port, this.options.bindAddress))
    if (families.ipv6) {
      try {
        this.wildcard.set(6, await this.bind(6, port))
      } catch (err) {
        if (!families.ipv4) throw err
        this.log.warn(
          { err: (err as Error).message },
          'no IPv6 discovery on this host (IPv6 socket refused); IPv4 only',
        )
      }
    }
    await this.sync(this.options.groups ?? [], this.options.unicastAddresses ?? [])
  }

  /**
   * Join groups and bind addresses not yet joined or bound; close receivers
   * of addresses that went away (interfaces change). Calls run one after
   * another.
   */
  sync(
    groups: ReadonlyArray<{ group: string; interface: string }>,
    unicastAddresses: readonly string[],
  ): Promise<void> {
    this.syncing = this.syncing
      .then(() => this.syncNow(groups, unicastAddresses))
      .catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'discovery sockets not updated')
      })
    return this.syncing
  }

  private async syncNow(
    groups: ReadonlyArray<{ group: string; interface: string }>,
    unicastAddresses: readonly string[],
  ): Promise<void> {
    const v6 = this.wildcard.get(6)
    if (v6 && !this.stopped && this.memberships.sync(v6, groups)) {
      // Too many memberships of interfaces gone held on it (group-memberships.ts): a socket made anew holds none.
      const fresh = await this.bind(6, this.options.port)
      this.wildcard.set(6, fresh)
      await closeSockets([v6])
      this.memberships.reset()
      this.memberships.sync(fresh, groups)
    }
    const wanted = new Set(unicastAddresses.filter((a) => this.wildcard.has(familyOf(a))))
    this.wanted = wanted
    this.groups = groups
    for (const [address, socket] of this.unicast) {
      if (wanted.has(address)) continue
      this.unicast.delete(address)
      await closeSockets([socket])
    }
    for (const address of wanted) {
      if (this.unicast.has(address) || this.stopped) continue
      try {
        this.unicast.set(address, await this.bind(familyOf(address), this.options.port, address, true))
      } catch (err) {
        this.log.debug(
          { address, err: (err as Error).message },
          'cannot bind the discovery port on this address; unicast to it reaches the wildcard socket',
        )
      }
    }
  }

  /**
   * Bind and join again what the last sync wanted: an IPv6 address still being checked for duplicates (DAD) at
   * start refuses a bind for a second or two, and the address list does not change when it ends; an interface
   * made again under its name lost its membership (attacker passes, forty-eighth session). Each interval.
   */
  refresh(): Promise<void> {
    // What is wanted when it runs, not now: a retarget queued before it must not be undone.
    this.syncing = this.syncing
      .then(() => this.syncNow(this.groups, [...this.wanted]))
      .catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'discovery sockets not updated')
      })
    return this.syncing
  }

  /** The local port of each family's socket (a port of its own when bound with port 0). */
  ports(): Partial<Record<Family, number>> {
    const out: Partial<Record<Family, number>> = {}
    for (const [family, socket] of this.wildcard) out[family] = socket.address().port
    return out
  }

  has(family: Family): boolean {
    return this.wildcard.has(family)
  }

  /** Send from the wildcard socket of the destination's family; false when it did not go (logged). */
  send(bytes: Uint8Array, address: string, port: number): Promise<boolean> {
    return this.sendOn(this.wildcard.get(isIPv4(address) ? 4 : 6), bytes, address, port)
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.syncing
    const sockets = [...this.wildcard.values(), ...this.unicast.values()]
    this.wildcard.clear()
    this.unicast.clear()
    await closeSockets(sockets)
  }

  private async sendOn(socket: Socket | undefined, bytes: Uint8Array, address: string, port: number): Promise<boolean> {
    if (!socket || this.stopped) return false
    const err = await sendDatagram(socket, bytes, port, address)
    if (err) this.log.debug({ address, port, err: err.message }, 'datagram not sent')
    return err === undefined
  }

  /** `toHost`: bound on one of the host's addresses (unicastAddresses), so what arrives was sent to it alone. */
  private bind(family: Family, port: number, address?: string, toHost = false): Promise<Socket> {
    return bindUdp({
      family,
      port,
      address,
      reuseAddr: port !== 0,
      onMessage: (bytes: Buffer, from: RemoteInfo, socket: Socket) => {
        if (this.stopped) return
        this.options.onDatagram({
          bytes,
          from: { address: from.address, port: from.port, family: from.family === 'IPv6' ? 6 : 4 },
          toHost,
          reply: (answer) => this.sendOn(socket, answer, from.address, from.port),
        })
      },
      onError: (err) => this.log.warn({ err: err.message }, 'discovery socket error'),
    })
  }
}
