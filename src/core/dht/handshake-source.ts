import { createRequire } from 'node:module'
import type { DhtAddress, DhtServer } from 'hyperdht'
import type { HandshakeMessages } from 'hyperdht/lib/messages.js'
import { P2PError } from '../errors.js'
import { LruMap } from '../lru-map.js'
import { ByteRateLimit } from '../rate-limit.js'

/**
 * Whom a DHT handshake is charged to, for the per-address bound on new connections (dht-seeder.ts), and where
 * the engine is told its dialler is.
 *
 * A handshake reaches a server straight from its dialler or through a DHT node the server announced its key to
 * (a relay), which writes in the dialler's address as it saw it. The engine hands the server's firewall only that
 * written-in address, and anyone may send a handshake that claims to be relayed: straight to the server, or
 * through one of its relays as if from a first relay. Charged to that claim, one stranger could open connections
 * without bound by claiming a new address each time, or spend an honest dialler's allowance by claiming its
 * address (an attacker pass of the fifty-second session: 5,900 of 5,900 accepted in 60 s; 0 of 3 downloads of the
 * victim's done), and have the server send its packets to an address of its choosing. So a claim counts only as
 * far as a relay of ours vouches for it; otherwise the handshake is taken for one from the address its datagram
 * came from.
 */

/** hyperdht's handshake modes (lib/router.js): who sent the message on. */
const FROM_CLIENT = 0
const FROM_RELAY = 2

/** A PEER_HANDSHAKE message's route: what hyperdht's router reads before it hands the server the Noise message. */
export interface HandshakeRoute {
  mode: number
  /** The dialler's address, as written in by whoever relayed the message (null: it came straight). */
  peerAddress: DhtAddress | null
  /** The first relay's address, as written in by a second relay. */
  relayAddress: DhtAddress | null
}

/** hyperdht's codecs, loaded with the engine (a LAN-only command never loads it: node.ts). */
let codecs: HandshakeMessages | undefined
function handshakeCodec(): HandshakeMessages['handshake'] {
  codecs ??= createRequire(import.meta.url)('hyperdht/lib/messages.js') as HandshakeMessages
  return codecs.handshake
}

/** The route of a PEER_HANDSHAKE message's value, by hyperdht's own codec; null when it does not decode. */
export function decodeHandshakeRoute(value: Uint8Array | null | undefined): HandshakeRoute | null {
  if (!value) return null
  try {
    const { mode, peerAddress, relayAddress } = handshakeCodec().decode({
      start: 0,
      end: value.byteLength,
      buffer: value,
      cache: null,
    })
    return { mode, peerAddress, relayAddress }
  } catch {
    return null
  }
}

/** What the engine is handed of a handshake, and whom it is charged to. */
export interface HandshakeCharge {
  /** The key of the per-source bound. */
  source: string
  /** The relay of ours that vouched for the dialler's address (host:port), whose handshakes are bounded in all. */
  relay?: string
  /** The dialler's address the engine is told (null: the sender itself, as for a dial straight to us). */
  peerAddress: DhtAddress | null
}

/**
 * Whom a handshake is charged to, and the dialler's address the engine is told; null for a handshake no
 * p2pshare dialler sends, which is dropped. `from` is where its datagram came from; `isOurRelay` tells a DHT node
 * we announced our key to. A relay of ours wrote the dialler's address in from what it saw (FROM_RELAY): the
 * charge is the relay and that address, so a hostile relay spends only the allowances through itself (and
 * its own bound in all). A dialler's own message (FROM_CLIENT), or one that claims to be relayed by a node that
 * is not ours, is taken for a dial straight from its sender: charged to it, and answered and connected there, so
 * that no claim sends the engine's packets, or its sessions' charges, to someone else. A message a second relay
 * passes on (FROM_SECOND_RELAY) names a dialler on a first relay's word, and the engine answers it at an address
 * the message names: no p2pshare dialler's message takes that route (hyperdht 6.32's connect names no relay),
 * and a stranger bounced its own through ordinary DHT nodes to one of ours, each bounce a new allowance, or had
 * the answers sent to someone else (attacker, fifty-third session).
 */
export function chargeHandshake(
  route: HandshakeRoute | null,
  from: DhtAddress,
  isOurRelay: (address: DhtAddress) => boolean,
): HandshakeCharge | null {
  if (!route || (route.mode !== FROM_CLIENT && route.mode !== FROM_RELAY)) return null
  if (route.mode === FROM_RELAY && route.peerAddress && isOurRelay(from)) {
    const relay = `${from.host}:${from.port}`
    return { source: `${relay}>${route.peerAddress.host}`, relay, peerAddress: route.peerAddress }
  }
  return { source: from.host, peerAddress: null }
}

/** Sources whose allowances are remembered (a source forgotten comes back with a full one). */
const MAX_SOURCES = 4096
/** Relays whose allowances are remembered. */
const MAX_RELAYS = 256
/** New DHT connections one source may open a second (twice that at once). */
export const HANDSHAKES_PER_SECOND = 20
/** New DHT connections through one relay of ours a second, whoever they are for (twice that at once). */
export const RELAYED_HANDSHAKES_PER_SECOND = 5 * HANDSHAKES_PER_SECOND

/** Past its bound, a relay of ours passes this many a second more for sources it passed few of lately. */
export const RELAY_RESERVE_PER_SECOND = HANDSHAKES_PER_SECOND
/** The window in which a source's passes through a relay are counted for that relay's reserve. */
export const RELAY_RESERVE_AFTER_MS = 10_000
/** A source passed this many times through a relay within the window has no share of its reserve. */
export const RELAY_RESERVE_PASSES = 2

/**
 * How many handshakes a source, and a relay of ours in all, may open. The engine keeps each handshake's state
 * and streams (a 64 KiB receive buffer among them) for 10 s after the stream closes, so a stranger opening and
 * closing them by the hundred a second held ~440 MB of a seeder (a fifth attacker pass). Per source only, so a
 * crowd of honest peers is not held back; but a relay names its diallers' addresses, each charged apart, so a
 * hostile one (anyone may run a DHT node near our key) named a new address each time, without bound, and had us
 * connect to each (attacker, fifty-third session): what passes through one relay is bounded in all too.
 *
 * That bound is shared by the relay's diallers, and a stranger with 5 addresses dialling through an honest relay
 * spent all of it (40 addresses: 3 downloads took 1.45, 1.46 and 8.3 s; attacker, fifty-fourth session). So past
 * it a relay has a reserve for sources it passed fewer than RELAY_RESERVE_PASSES handshakes for in the current
 * RELAY_RESERVE_AFTER_MS window: a dialler refused is still such a source when it dials again, and so is one
 * that passed once (a download just before, a redial; with one pass, a second attacker pass found the reserve
 * used once in 16 honest tries), while a stranger's addresses spending the bound are not. To spend the reserve
 * too a stranger needs RELAY_RESERVE_PER_SECOND × 10 ÷ RELAY_RESERVE_PASSES addresses (100). A hostile relay
 * naming a new address each time has it as well: 120 a second, not 100.
 */
export class HandshakeBounds {
  private readonly perSource: ByteRateLimit
  private readonly perRelay: ByteRateLimit
  private readonly reserve: ByteRateLimit
  /**
   * Each relayed source's (relay>address) passes in its window. One list for all relays, as many as perSource
   * keeps: hostile relays naming a new address each time turn it over sooner (four: in under 10 s), which makes a
   * stranger's addresses on honest relays count afresh a little sooner, never an honest dialler's less.
   */
  private readonly passed = new LruMap<string, { since: number; passes: number }>()

  constructor(private readonly now: () => number = () => performance.now()) {
    const bound = (perSecond: number, burst: number, maxKeys: number) =>
      new ByteRateLimit({ perSecond, burst, totalPerSecond: Number.MAX_SAFE_INTEGER, maxKeys, now })
    this.perSource = bound(HANDSHAKES_PER_SECOND, 2 * HANDSHAKES_PER_SECOND, MAX_SOURCES)
    this.perRelay = bound(RELAYED_HANDSHAKES_PER_SECOND, 2 * RELAYED_HANDSHAKES_PER_SECOND, MAX_RELAYS)
    this.reserve = bound(RELAY_RESERVE_PER_SECOND, RELAY_RESERVE_PER_SECOND, MAX_RELAYS)
  }

  /**
   * Whether a handshake so charged may open a connection now (taking its allowances if so). The source's first:
   * a source past its own allowance spends nothing of its relay's, which its other diallers share.
   */
  take({ source, relay }: Pick<HandshakeCharge, 'source' | 'relay'>): boolean {
    const now = this.now()
    if (!this.perSource.take(source, 1, now)) return false
    if (relay === undefined) return true
    const seen = this.passed.get(source)
    const window = seen !== undefined && now - seen.since < RELAY_RESERVE_AFTER_MS ? seen : { since: now, passes: 0 }
    const fresh = window.passes < RELAY_RESERVE_PASSES
    if (!this.perRelay.take(relay, 1, now) && !(fresh && this.reserve.take(relay, 1, now))) return false
    window.passes++
    this.passed.touch(source, window)
    if (this.passed.size > MAX_SOURCES) this.passed.deleteOldest()
    return true
  }
}

/** How long a DHT node we announced our key to still vouches for its diallers (its copy of our record lives on). */
export const RELAY_VOUCHES_MS = 30 * 60_000
const MAX_REMEMBERED_RELAYS = 256

/**
 * The DHT nodes we announced our key to, now or within RELAY_VOUCHES_MS: a node keeps relaying for us as long as
 * its copy of our record lives, after the engine's announcer has moved on to others.
 */
export class RecentRelays {
  private readonly seen = new LruMap<string, number>()
  private lastList: unknown

  constructor(
    private readonly current: () => ReadonlyArray<{ relayAddress: DhtAddress }> | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  has(address: DhtAddress): boolean {
    const now = this.now()
    const list = this.current()
    // The announcer replaces its list at each announce: read it again only then.
    if (list && list !== this.lastList) {
      this.lastList = list
      for (const { relayAddress } of list) this.seen.touch(`${relayAddress.host}:${relayAddress.port}`, now)
    }
    for (let since = this.seen.oldest(); since !== undefined; since = this.seen.oldest()) {
      if (this.seen.size <= MAX_REMEMBERED_RELAYS && now - since <= RELAY_VOUCHES_MS) break
      this.seen.deleteOldest()
    }
    return this.seen.has(`${address.host}:${address.port}`)
  }
}

/** The engine's server as this module reaches into it (hyperdht 6.32, pinned in package.json: lib/server.js). */
interface ServerInternals {
  _onpeerhandshake: (
    message: { noise: Uint8Array; peerAddress: DhtAddress | null },
    request: { from: DhtAddress; value: Uint8Array | null },
  ) => Promise<unknown>
  _announcer: { relays: ReadonlyArray<{ relayAddress: DhtAddress }> } | null
}

/**
 * Puts `admit` in front of every handshake `server` is handed, before the engine decrypts it: a handshake dropped
 * (chargeHandshake) or refused gets no answer and costs no Noise step; one admitted reaches the engine with the
 * dialler's address chargeHandshake gives. Call it before `listen()`, which binds the engine's handler.
 */
export function guardHandshakes(server: DhtServer, admit: (charge: HandshakeCharge) => boolean): void {
  const internals = server as unknown as ServerInternals
  const handle = internals._onpeerhandshake
  if (typeof handle !== 'function')
    throw new P2PError('E_INTERNAL', 'the DHT engine has no handshake handler to guard (hyperdht changed?)')
  const relays = new RecentRelays(() => internals._announcer?.relays)
  internals._onpeerhandshake = function guarded(message, request) {
    const charge = chargeHandshake(decodeHandshakeRoute(request.value), request.from, (a) => relays.has(a))
    if (!charge || !admit(charge)) return Promise.resolve(null)
    return handle.call(this, { noise: message.noise, peerAddress: charge.peerAddress }, request)
  }
}
