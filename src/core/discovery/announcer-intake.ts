import type { Logger } from '../log.js'
import type { AnnouncerOptions } from './announcer-options.js'
import type { Datagram, DiscoverySockets } from './discovery-sockets.js'
import { type AnnouncerLink, type AnnouncerStats, QueryAnswerer } from './query-answerer.js'
import { familyOf } from './udp-sockets.js'

/**
 * What reaches the announcer's sockets (announcer.ts), and where it goes.
 * Queries heard there are answered from the last burst's scan, within a
 * budget and rate limits: by unicast to a query sent to this host, where
 * the bursts go for one that came by broadcast (query-answerer.ts). Every
 * datagram also goes to whoever else in this process hears the discovery
 * port through those sockets (`hear`). The same bytes to each: none writes
 * them (a sealed one is opened into a copy); one that throws is logged, and
 * the others still get the datagram.
 */

/** What the intake reads of its announcer, as it is at each datagram. */
export interface IntakeLink extends Pick<AnnouncerLink, 'announced' | 'bursting' | 'maxBytes' | 'seal'> {
  /** The announcer's sockets while they are open (from start until stop). */
  sockets(): DiscoverySockets | undefined
}

export class AnnouncerIntake {
  private readonly answerer: QueryAnswerer
  private readonly answer = (datagram: Datagram): void => this.answerer.onMessage(datagram)
  /** Who else in this process hears the discovery port through our sockets (`hear`). */
  private readonly hearers = new Set<(datagram: Datagram) => void>()
  readonly stats: AnnouncerStats

  /** `options`: the announcer's own, which `retarget` changes: where the bursts go is read at each answer. */
  constructor(
    options: AnnouncerOptions,
    announcer: IntakeLink,
    private readonly log: Logger,
  ) {
    this.answerer = new QueryAnswerer(
      options,
      {
        announced: () => announcer.announced(),
        bursting: () => announcer.bursting(),
        open: () => announcer.sockets() !== undefined,
        maxBytes: () => announcer.maxBytes(),
        seal: (payload, answering) => announcer.seal(payload, answering),
        burstTargets: (family) =>
          options.broadcast
            .filter((address) => familyOf(address) === family)
            .map((address): [string, number] => [address, options.udpPort]),
        knowsHostAddresses: (family) => (options.unicastAddresses ?? []).some((a) => familyOf(a) === family),
        send: async (payload, address, port) => (await announcer.sockets()?.send(payload, address, port)) ?? false,
      },
      log,
    )
    this.stats = this.answerer.stats
  }

  /** A datagram that reached the announcer's sockets: to the answerer first, then to each hearer. */
  onDatagram(datagram: Datagram): void {
    this.deliver(this.answer, datagram)
    for (const hear of this.hearers) this.deliver(hear, datagram)
  }

  /** `hear` gets every datagram too, until the returned removal is called (Announcer.hear). */
  hear(hear: (datagram: Datagram) => void): () => void {
    this.hearers.add(hear)
    return () => this.hearers.delete(hear)
  }

  private deliver(consumer: (datagram: Datagram) => void, datagram: Datagram): void {
    try {
      consumer(datagram)
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'a datagram consumer failed')
    }
  }
}
