import { MAX_DATAGRAM_BYTES } from '../constants.js'
import type { Logger } from '../log.js'
import { ByteRateLimit } from '../rate-limit.js'
import type { DatagramGuard } from '../trust/datagram-guard.js'
import { ANSWER_FACTOR, encodeCookie, type Query } from './announcement.js'
import { decodeQuery } from './announcement-decode.js'
import { AnswerCookies } from './answer-cookies.js'
import type { Datagram } from './discovery-sockets.js'
import { type Announced, AnswerSizes, answerTo } from './query-answer.js'
import { canonicalAddress } from './unicast-address.js'
import { type HostAddressOptions, UnicastSources } from './unicast-sources.js'

/**
 * An announcer's answers to queries (announcer.ts sends the bursts), at
 * once, with at most ANSWER_FACTOR × the query's bytes: the files it asks
 * for (a name or an id) or, unasked, as many as fit, then a "more" notice
 * saying how many were left for the periodic announcements. A query sent to
 * this host alone (a named or known peer's) is answered by unicast to its
 * source, which must be one host (unicastProblem; not one of our broadcast
 * addresses). A query that came by broadcast or to the IPv6 group, in an
 * open swarm, is answered where the bursts go, on the discovery port, never
 * to its source: any host on the LAN can forge that source, and every
 * announcer hears a broadcast, so answering it would have every announcer
 * send 3 × the query to one victim. In a private swarm a query is sealed (no
 * stranger forges one) and answered by unicast, sealed to it. Answers also
 * keep within a byte rate per destination and in all, come from the last
 * scan (no disk work per query), and are not made for a query the budget
 * refuses (AnswerSizes). So a query cannot be used to amplify traffic
 * towards a host of the sender's choosing, or to make the announcer work.
 */

/** Answer bytes a second per source address: one full answer to a padded query (a burst of four: a host's listener and downloaders starting together). */
export const ANSWER_BYTES_PER_SOURCE_PER_S = ANSWER_FACTOR * MAX_DATAGRAM_BYTES
/** Answer bytes a second, all sources together: for queries without a cookie, and again for those with one. */
export const ANSWER_BYTES_PER_S = 64 * 1024
/**
 * The window over which the answers to proven queries are shared when their total is spent (rate-limit.ts): a
 * querier asking a full answer (3,600 bytes) every 4 s is answered while fewer than ~45 other proven sources ask
 * at once, one asking a one-file answer (~300 bytes) every 5 s (a download's) while fewer than ~600 do (what it
 * was answered decays by e every window, so what it asks again counts against its share too). Without it, a
 * stranger with cookies for a couple of dozen addresses of its own keeps the total spent (docs/security.md).
 */
export const PROVEN_FAIR_SHARE_MS = 4000
/**
 * Cookie notices a second, all sources together, in bytes: a notice (NOTICE_BYTES, 111) is under a tenth of the
 * padded query it answers (at most an eighth of any query it answers), so a stranger spends this with 10.8 × its
 * bytes in forged queries (2.7 MiB/s); it bounds the announcer's work.
 */
export const COOKIE_BYTES_PER_S = 256 * 1024
/** A cookie notice's bytes on the wire (a nonce said back included). */
export const NOTICE_BYTES = encodeCookie('0'.repeat(32), false, '0'.repeat(16)).length

/** What an announcer counts (Announcer.stats): its queries and their answers. */
export interface AnnouncerStats {
  queries: number
  answers: number
  answerBytes: number
  /** Queries not answered: a rate limit was spent, or too many waited for the first scan. */
  refused: number
  /** Queries sent to this host alone from a source that is no one host (a broadcast address, a group): dropped. */
  badSource: number
  /** Cookie notices sent (answer-cookies.ts): with an answer, or instead of one when its budget was spent. */
  cookies: number
  /** Queries answered that showed their source's cookie. */
  proven: number
}

/** The announcer's options its answers use (AnnouncerOptions has them all). */
export interface QueryAnswererOptions extends HostAddressOptions {
  tcpPort: number
  intervalMs: number
  maxDatagramBytes?: number
  answerBytesPerSourcePerS?: number
  answerBytesPerS?: number
  transport?: 'noise'
  guard?: DatagramGuard
  cookieBytesPerS?: number
  /** The wall clock cookies' epochs are counted on (tests). */
  now?: () => number
  /** The monotonic clock the byte budgets refill by (tests). */
  budgetClock?: () => number
}

/** Queries held while the first scan runs; more are refused (counted). */
export const MAX_WAITING_FOR_SCAN = 64

/** What answers need of their announcer (announcer.ts): its last scan, its sockets, its datagram boundary. */
export interface AnnouncerLink {
  /** What its last burst announced (undefined until a first scan is done). */
  announced(): Announced | undefined
  /** The burst being sent, if any: the first scan may be under way in it. */
  bursting(): Promise<void> | undefined
  /** Whether its sockets are open (from start until stop): answers go out only then. */
  open(): boolean
  /** The largest datagram payload (inside a private swarm, what still fits once sealed). */
  maxBytes(): number
  /** Sealed in a private swarm (to the query it answers, `answering`: that query's nonce); as it is otherwise. */
  seal(payload: Buffer, answering?: Buffer): Buffer
  /** Where the bursts of `family` go (its broadcast addresses or IPv6 groups), on the discovery port. */
  burstTargets(family: 4 | 6): Array<[string, number]>
  /**
   * Whether the announcer binds the port on this host's addresses of `family` (unicastAddresses): then a query on
   * the wildcard socket is taken for one that came by broadcast or to the group. Unicast to an address not bound
   * (yet) lands there too, and is answered where the bursts go until the next interval binds it: failing closed,
   * since an on-link stranger can keep an IPv6 address from binding (duplicate address detection) and would
   * otherwise have every query answered to its forged source (the review of the fix).
   */
  knowsHostAddresses(family: 4 | 6): boolean
  /** Send one datagram (as it is) to `address`:`port` from the announcer's sockets. */
  send(payload: Buffer, address: string, port: number): Promise<boolean>
}

/** One announcer's answers: the one owner of their rate limit and of the announcer's counts. */
export class QueryAnswerer {
  /** Answers to queries without a valid cookie (and where the bursts go). */
  private readonly answerLimit: ByteRateLimit
  /** Answers to queries that showed their source's cookie: forged sources cannot spend it, and many proven ones share it when spent. */
  private readonly provenLimit: ByteRateLimit
  private readonly noticeLimit: ByteRateLimit
  private readonly cookies: AnswerCookies
  readonly stats: AnnouncerStats = {
    queries: 0,
    answers: 0,
    answerBytes: 0,
    refused: 0,
    badSource: 0,
    cookies: 0,
    proven: 0,
  }
  private waitingForScan = 0
  /** Which sources a unicast answer may go to (unicast-sources.ts). */
  private readonly sources: UnicastSources
  /** The size of each kind of answer made from the last announcement: a refused query's answer is not made. */
  private readonly sizes = new AnswerSizes()

  constructor(
    private readonly options: QueryAnswererOptions,
    private readonly announcer: AnnouncerLink,
    private readonly log: Logger,
  ) {
    const perSource = options.answerBytesPerSourcePerS ?? ANSWER_BYTES_PER_SOURCE_PER_S
    const answers = {
      perSecond: perSource,
      burst: 4 * perSource,
      totalPerSecond: options.answerBytesPerS ?? ANSWER_BYTES_PER_S,
      now: options.budgetClock,
    }
    this.answerLimit = new ByteRateLimit(answers)
    this.provenLimit = new ByteRateLimit({ ...answers, fairShareMs: PROVEN_FAIR_SHARE_MS })
    // In all, not per source: a stranger forging a querier's address would spend that querier's share, and a
    // notice is under a tenth of its query (no use for reflection).
    const notices = options.cookieBytesPerS ?? COOKIE_BYTES_PER_S
    this.noticeLimit = new ByteRateLimit({
      perSecond: notices,
      burst: notices,
      totalPerSecond: notices,
      maxKeys: 1,
      now: options.budgetClock,
    })
    this.cookies = new AnswerCookies(options.now)
    this.sources = new UnicastSources(options, announcer)
  }

  /** A datagram heard on the announcer's sockets: a query is answered, anything else ignored. */
  onMessage(datagram: Datagram): void {
    let msg = datagram.bytes
    let sealedQuery: Buffer | undefined
    if (this.options.guard) {
      const opened = this.options.guard.open(msg)
      if ('drop' in opened) return // not ours to judge: listeners count what they drop
      msg = opened.payload
      sealedQuery = opened.nonce
    }
    let query: Query | undefined
    try {
      query = decodeQuery(msg, this.options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES)
    } catch {
      return // not ours to judge: listeners count bad datagrams
    }
    if (query === undefined) return
    this.stats.queries++
    this.answer(query, datagram.bytes.length, datagram, sealedQuery) // as it came, sealed or not: the answer is measured so too
  }

  /**
   * What the querier asked for, within ANSWER_FACTOR × its bytes and the rate limits: by unicast to a query sent to
   * this host (in a private swarm sealed to it, `sealedQuery` its nonce, so only the querier opens it), where the
   * bursts go for one that came by broadcast or to the group (the class comment says why). A unicast answer in an
   * open swarm comes with a cookie, or is a cookie alone when the budget for queries without one is spent
   * (answer-cookies.ts); a query with its source's cookie is answered from a budget of its own.
   */
  private answer(query: Query, queryBytes: number, datagram: Datagram, sealedQuery?: Buffer): void {
    const to = datagram.from
    const announced = this.announcer.announced()
    const bursting = this.announcer.bursting()
    if (!announced && bursting) {
      // The first scan is under way: answer from it. Each waiting query holds its datagram until then, and a
      // large store's first scan may take seconds: only a few wait (the rate limit would refuse a flood anyway).
      if (this.waitingForScan >= MAX_WAITING_FOR_SCAN) {
        this.stats.refused++
        return
      }
      this.waitingForScan++
      void bursting.then(() => {
        this.waitingForScan--
        if (this.announcer.announced()) this.answer(query, queryBytes, datagram, sealedQuery)
      })
      return
    }
    if (!announced || !this.announcer.open() || to.port === 0) return
    const overBroadcast =
      !datagram.toHost && this.options.guard === undefined && this.announcer.knowsHostAddresses(to.family)
    if (!overBroadcast && this.sources.notOneHost(to.address)) {
      this.stats.badSource++
      return
    }
    // Sealed queries come from members only: a stranger forges none, so a private swarm needs no cookies.
    const cookies = !overBroadcast && this.options.guard === undefined
    const proof = cookies && query.cookie !== undefined ? this.cookies.proves(query.cookie, to.address) : undefined
    const proven = proof !== undefined
    // A cookie comes with the answer to a padded query (not the old 22-byte form: a notice is at most an eighth of
    // it) that showed none, or one of the last epoch (renewed: a cookie in use never lapses).
    const padded = cookies && queryBytes >= 8 * NOTICE_BYTES
    const offer = padded && !proven
    const attach = padded && (offer || proof === 'previous')
    const targets = overBroadcast ? this.announcer.burstTargets(to.family) : []
    if (overBroadcast && targets.length === 0) return // no broadcast address or group of that family: nowhere to answer
    // An answer where the bursts go is counted once, as a burst is, whatever the number of broadcast addresses and
    // groups it goes to: counted for each, a host with five or more never answered a full one (an attacker pass).
    const limit = proven ? this.provenLimit : this.answerLimit
    // By the canonical address, as the cookie is: a mapped IPv4 address is that IPv4 host.
    const key = overBroadcast ? `burst:${to.family}` : canonicalAddress(to.address)
    // By unicast in an open swarm: the querier tells this answer from one forged with our address.
    const nonce = cookies ? query.nonce : undefined
    const reserve = attach ? NOTICE_BYTES : 0
    const kind = AnswerSizes.kindOf(query.want, queryBytes, nonce !== undefined, reserve)
    const made = this.sizes.get(announced, kind)
    if (made === 0) return // no file asked for, or not even the notice fits
    if (made !== undefined && !limit.mayTake(key, made)) {
      this.refuse(offer, datagram, query)
      return
    }
    const {
      datagrams: answer,
      bytes,
      asked,
      whole,
    } = answerTo(
      announced,
      query.want,
      queryBytes,
      {
        tcpPort: this.options.tcpPort,
        transport: this.options.transport,
        intervalMs: this.options.intervalMs,
        maxBytes: this.announcer.maxBytes(),
        ...(this.options.guard ? { sealedBytes: this.announcer.maxBytes() + this.options.guard.overhead } : {}),
        ...(nonce !== undefined ? { nonce } : {}),
      },
      reserve,
    )
    const total = answer.length === 0 ? 0 : bytes + reserve
    this.sizes.set(announced, kind, total)
    if (answer.length === 0) return
    if (!limit.take(key, total)) {
      this.refuse(offer, datagram, query)
      return
    }
    this.stats.answers++
    if (proven) this.stats.proven++
    this.stats.answerBytes += total * Math.max(1, targets.length)
    this.log.debug(
      {
        to: overBroadcast ? targets.map(([a]) => a) : `${to.address}:${to.port}`,
        want: query.want,
        datagrams: answer.length,
        bytes: total,
        omitted: asked - whole,
        proven,
      },
      'query answered',
    )
    void (async () => {
      if (overBroadcast) {
        for (const d of answer) for (const [address, port] of targets) await this.announcer.send(d, address, port)
        return
      }
      // From the socket the query came in on: its source is the address the querier asked.
      for (const d of answer) if (!(await datagram.reply(this.announcer.seal(d, sealedQuery)))) return
      if (attach) {
        this.stats.cookies++
        await datagram.reply(encodeCookie(this.cookies.cookieFor(to.address), true, query.nonce))
      }
    })()
  }

  /** A query its budget refused: counted, and (`offer`) its source given a cookie to ask again with, within the notices' own budget. */
  private refuse(offer: boolean, datagram: Datagram, query: Query): void {
    this.stats.refused++
    if (offer && this.noticeLimit.take('all', NOTICE_BYTES)) {
      this.stats.cookies++
      void datagram.reply(encodeCookie(this.cookies.cookieFor(datagram.from.address), false, query.nonce))
    }
  }
}
