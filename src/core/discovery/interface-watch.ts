import type { Logger } from '../log.js'
import type { DiscoveryReach } from './reach.js'

/**
 * Reads the host's interfaces again every `everyMs` and, when a broadcast
 * address, an IPv6 group's interface or one of the host's addresses came or
 * went, hands the new reach to each part (an announcer's and a listener's
 * `retarget`). A daemon started before its address came (DHCP after boot, an
 * IPv4 address added beside IPv6) announced on what it found at start for
 * its whole run: an attacker pass, forty-eighth session, counted 0 IPv4
 * datagrams in 25 s from a p2p-announce whose subnet came 2 s after it
 * started. Returns the stop.
 */

/** How often a daemon reads its interfaces again: an announce interval's worth. */
export const INTERFACES_EVERY_MS = 5_000

export function watchInterfaces(
  reach: DiscoveryReach,
  parts: ReadonlyArray<(reach: DiscoveryReach) => Promise<void>>,
  options: { everyMs?: number; log: Logger },
): () => void {
  let busy = false
  const timer = setInterval(() => {
    if (busy || !reach.refresh()) return
    busy = true
    options.log.info(
      { broadcast: reach.broadcast, unicastAddresses: reach.unicastAddresses },
      'interfaces changed: discovery follows',
    )
    void Promise.allSettled(parts.map((retarget) => retarget(reach))).then((outcomes) => {
      busy = false
      for (const o of outcomes)
        if (o.status === 'rejected') options.log.warn({ err: (o.reason as Error).message }, 'discovery not retargeted')
    })
  }, options.everyMs ?? INTERFACES_EVERY_MS)
  timer.unref()
  return () => clearInterval(timer)
}
