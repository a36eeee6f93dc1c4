import type { Socket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import type { Logger } from '../log.js'
import { withZone } from './multicast.js'

/**
 * The IPv6 group memberships of one socket, each held on an interface as
 * the kernel knows it (its index). A membership is named by the interface's
 * name, which libuv turns into its index; a name that is gone becomes index
 * 0, and the kernel then picks an interface itself: to join there, by its
 * routes, and to leave, the group's last membership on any interface (an
 * attacker pass, forty-eighth session, watched a leave for a deleted veth
 * drop a live interface's). So a name is joined only while the interface
 * exists, and left only while it is the one joined (same index); the
 * membership of an interface deleted, or made again under its name, cannot
 * be named any more and stays on the socket, holding the socket's option
 * memory (56 bytes each: joins fail ENOMEM after some thousands of container
 * interfaces). Past MAX_STALE_MEMBERSHIPS of those the owner makes the
 * socket anew (sync's answer), which holds none.
 */

/** Memberships of interfaces gone held before the socket is made anew. */
export const MAX_STALE_MEMBERSHIPS = 32

/** The kernel's index of interface `name` (Linux's /sys), undefined when it has none (gone) or it cannot be read. */
export function interfaceIndex(name: string): number | undefined {
  if (!/^[^/\0]{1,15}$/.test(name) || name === '.' || name === '..') return undefined
  try {
    const index = Number.parseInt(readFileSync(`/sys/class/net/${name}/ifindex`, 'ascii'), 10)
    return Number.isInteger(index) && index > 0 ? index : undefined
  } catch {
    return undefined
  }
}

interface Held {
  group: string
  interface: string
  /** Its index when joined; undefined where indexes cannot be read (then it is taken as held for good). */
  index: number | undefined
}

export class GroupMemberships {
  private readonly held = new Map<string, Held>()
  private stale = 0
  /** Join failures said once (interface and reason): joins are tried again each interval. */
  private readonly warned = new Set<string>()

  constructor(
    private readonly log: Logger,
    private readonly indexOf: (name: string) => number | undefined = interfaceIndex,
    private readonly present: () => ReadonlySet<string> = () => new Set(Object.keys(networkInterfaces())),
  ) {}

  /**
   * Hold exactly `groups` on `socket` as the interfaces are now: leave those no longer wanted, join those not
   * held (an interface made again under its name too). True when the socket should be made anew (then reset()
   * and sync the new one).
   */
  sync(socket: Socket, groups: ReadonlyArray<{ group: string; interface: string }>): boolean {
    const wanted = new Map(groups.map((g) => [`${g.group}%${g.interface}`, g]))
    for (const [key, m] of this.held) {
      const index = this.indexOf(m.interface)
      const same = m.index === undefined || index === m.index
      if (same && wanted.has(key)) continue
      if (same) this.leave(socket, m)
      else this.stale++
      this.held.delete(key)
    }
    let listed: ReadonlySet<string> | undefined // asked once a sync, and only when needed
    const isListed = (name: string): boolean => {
      listed ??= this.present()
      return listed.has(name)
    }
    for (const [key, g] of wanted) {
      if (this.held.has(key)) continue
      const index = this.indexOf(g.interface)
      // An interface with no address yet (no carrier, link-local not made) is not listed by the OS but can be joined.
      if (index === undefined && !isListed(g.interface)) {
        this.warnOnce(g.interface, 'no such interface')
        continue
      }
      try {
        socket.addMembership(g.group, withZone('::', g.interface))
        this.held.set(key, { ...g, index })
      } catch (err) {
        this.warnOnce(g.interface, (err as NodeJS.ErrnoException).code ?? (err as Error).message)
      }
    }
    return this.stale >= MAX_STALE_MEMBERSHIPS
  }

  /** The socket was made anew: it holds nothing. */
  reset(): void {
    this.held.clear()
    this.stale = 0
  }

  private leave(socket: Socket, m: Held): void {
    try {
      socket.dropMembership(m.group, withZone('::', m.interface))
    } catch {
      // Gone meanwhile: nothing more to do here.
    }
  }

  private warnOnce(name: string, reason: string): void {
    const key = `${name} ${reason}`
    if (this.warned.has(key)) return
    if (this.warned.size >= 256) this.warned.clear()
    this.warned.add(key)
    this.log.warn({ interface: name, reason }, 'cannot join the IPv6 discovery group on this interface')
  }
}
