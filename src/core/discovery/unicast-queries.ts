import type { Logger } from '../log.js'
import { asksEverything, type CookieNotice, type QueryTokens, type QueryWant } from './announcement.js'
import { AnsweringPeers } from './answering-peers.js'
import { CookieJar } from './cookie-jar.js'
import type { KnownPeers } from './known-peers.js'
import { keyOf, peerKey } from './known-peers-file.js'
import type { PeerTarget } from './named-peers.js'

/** What unicast queries need of their listener (listener.ts): its query socket and its query's encoding. */
export interface UnicastQueryLink {
  /** Whether the query socket has a socket of the address's family. */
  canReach(address: string): boolean
  /** A query for `want` (with a cookie and our nonce), sealed in a private swarm. */
  encode(want: QueryWant | undefined, tokens?: QueryTokens): Buffer
  send(bytes: Buffer, address: string, port: number): void
  /** A datagram dropped, counted under `reason`. */
  drop(reason: string, address: string): void
}

/**
 * A listener's queries by unicast to its named and known peers: who was
 * asked (only their answers are answers), which known peers answer (asked
 * again: answering-peers.ts), and the cookies they gave us (cookie-jar.ts).
 *
 * Only an answer from a peer we queried by unicast (a datagram on the query
 * socket from the address and port we asked) is recorded as a known peer,
 * and a known peer counts as answering only when its answer comes there
 * after we queried it: anyone can send a datagram with any source address,
 * and none of it may make us send queries. Known peers are asked for
 * everything (the answer is capped at three times the query), so their
 * silence is a miss.
 */
export class UnicastQueries {
  /** The known peers asked at the first query, and which of them answer (asked again). */
  private readonly answering = new AnsweringPeers()
  /**
   * The named and known peers sent a unicast query (address|port, canonical): only their answers are answers. With
   * what the last queries to each asked for: an answer withheld is asked for again as it was (a known peer, asked for
   * everything, asked again for one file it does not hold would stay silent, and count a miss).
   */
  private readonly queried = new Map<string, ReadonlyArray<QueryWant | undefined>>()
  /** Their cookies (an open swarm's: sealed queries need none). */
  private readonly cookies = new CookieJar()
  /** Of those, the ones that said our nonce back in an answer (a peer of this version): see `answered`. */
  private readonly saidNonce = new Set<string>()

  constructor(
    private readonly link: UnicastQueryLink,
    private readonly options: {
      knownPeers?: KnownPeers | undefined
      /** A private swarm's: any sealed answer is an answer, and cookies are not used. */
      sealed: boolean
      log: Logger
    },
  ) {}

  /** Ask the named peers for `want`; at the first call also the known peers, for everything. */
  query(named: readonly PeerTarget[], want: QueryWant | undefined): void {
    const skip = new Set(named.map(keyOf))
    if (!this.answering.started) {
      const known = (this.options.knownPeers?.toQuery((address) => this.link.canReach(address)) ?? [])
        .map((p) => ({ address: p.address, port: p.port, name: 'known' }))
        .filter((p) => !skip.has(keyOf(p)))
      this.answering.start(known)
      if (known.length > 0) this.options.log.debug({ known: known.length }, 'asking known peers')
      // For everything: every live announcer answers that, so silence is a miss (a one-file query is not answered
      // by a peer without the file). And first for the one file wanted, if any: that answer is small, and so still
      // within a querier's share of a budget that many proven strangers spend (a full one was refused past ~72 of
      // them: the attacker pass of the fifty-eighth session), and is not crowded out of it by the full one.
      this.sendTo(known, want === undefined || asksEverything(want) ? [undefined] : [want, undefined], true)
    }
    this.sendTo(named, [want], false)
  }

  /** Named peers, and known peers while they answer (answering-peers.ts). */
  again(named: readonly PeerTarget[], want: QueryWant | undefined): void {
    const skip = new Set(named.map(keyOf))
    const again = this.answering.due().filter((p) => !skip.has(keyOf(p)))
    this.sendTo(again, [want], true)
    this.sendTo(named, [want], false)
  }

  /**
   * An answer from a peer we asked by unicast (a named or known one) makes it a known peer, and in a private swarm
   * any answer (sealed to one of our queries: a member's); any other datagram on the query socket is merged (it is
   * an announcement like any) but recorded nowhere: a stranger who heard our broadcast query (and so our query
   * port) forged answers from any address to plant it in known_peers.json, queried at every start, and to push
   * the honest entries out (an attacker pass, forty-eighth session).
   */
  answered(address: string, port: number, peer: string, nonce: string | undefined): void {
    if (!this.asked(address, port) && !this.options.sealed) return
    if (!this.options.sealed) {
      // Once a peer said our nonce back, only its answers that do count: a stranger forging its address and port
      // (our query port is in every broadcast query) rewrote its peer ID in known_peers.json (attacker pass,
      // fifty-seventh session). An older peer says none, and is recorded as before.
      const key = peerKey(address, port)
      if (nonce !== undefined && this.cookies.saysOurNonce(address, port, nonce)) this.saidNonce.add(key)
      else if (this.saidNonce.has(key)) return
    }
    this.options.knownPeers?.heard(address, port, peer)
    this.answering.heard(address, port)
  }

  /**
   * A cookie from a peer we asked (an open swarm's), saying back our nonce, is kept for our next queries to it, and
   * when it came instead of an answer the peer is asked again with it (cookie-jar.ts). One from anywhere else, or
   * without our nonce, is dropped (`unasked`, `nonce`): a stranger could otherwise make us send queries, or replace
   * the peer's cookie with its own.
   */
  tookCookie(address: string, port: number, notice: CookieNotice): void {
    if (this.options.sealed || !this.asked(address, port)) {
      this.link.drop('unasked', address)
      return
    }
    if (!this.cookies.ours(address, port, notice)) {
      this.link.drop('nonce', address)
      return
    }
    // A known peer that said our nonce back is there: asked again at the requeries, as one that answered is (its
    // answer to the query with the cookie may be refused too, and would otherwise be its last chance), and its
    // silence is no miss (a flood withholding its answers at every start had it forgotten after three).
    this.answering.heard(address, port)
    this.options.knownPeers?.stillThere(address, port)
    if (this.cookies.took(address, port, notice))
      this.sendTo([{ address, port, name: 'again' }], this.queried.get(peerKey(address, port)) ?? [undefined], false)
  }

  /**
   * Whether an answer from `address`:`port` says back our nonce for it (an open swarm's): only the peer we asked
   * saw the query, so no stranger forging that address made it.
   */
  vouches(address: string, port: number, nonce: string): boolean {
    return !this.options.sealed && this.asked(address, port) && this.cookies.saysOurNonce(address, port, nonce)
  }

  private asked(address: string, port: number): boolean {
    return this.queried.has(peerKey(address, port))
  }

  /** A query for each of `wants` to each target, with the cookie it gave us if any and our nonce for it (an open swarm's). */
  private sendTo(targets: readonly PeerTarget[], wants: ReadonlyArray<QueryWant | undefined>, known: boolean): void {
    if (targets.length === 0) return
    // Sealed: one query for all (each sealed query's nonce is kept to open its answers: datagram-intake.ts).
    const sealed = this.options.sealed ? wants.map((want) => this.link.encode(want)) : undefined
    for (const p of targets) {
      if (known) this.answering.queried(p)
      this.queried.set(peerKey(p.address, p.port), wants)
      const tokens = {
        cookie: this.cookies.cookieFor(p.address, p.port),
        nonce: this.cookies.nonceFor(p.address, p.port),
      }
      for (const [i, want] of wants.entries())
        this.link.send(sealed?.[i] ?? this.link.encode(want, tokens), p.address, p.port)
    }
  }
}
