import { LruMap } from '../lru-map.js'
import { ANSWER_FACTOR, asksEverything, encodeMore, type QueryWant } from './announcement.js'
import { answerWithin, type LocalFile, packAnnouncements } from './announcement-encode.js'

/**
 * An answer's datagrams, made from what an announcer last announced (pure:
 * query-answerer.ts decides whether and where they go).
 */

/** What the last burst announced: answers are made from it. */
export interface Announced {
  peer: string
  files: LocalFile[]
}

/** How an answer's datagrams are made: the announcer's TCP port, transport and interval, the largest payload. */
export interface AnswerFormat {
  tcpPort: number
  transport?: 'noise' | undefined
  intervalMs: number
  maxBytes: number
  /** In a private swarm, every datagram's size on the wire (padded to the largest payload, then sealed), counted against the budget. */
  sealedBytes?: number
  /** A unicast query's nonce, said back in every announcement of the answer (an open swarm's). */
  nonce?: string | undefined
}

/**
 * The answer to a query of `queryBytes` for `want`, from what was last
 * announced: the packed announcements of the files asked for and the "more"
 * notice of those left out, within ANSWER_FACTOR × `queryBytes` (answerWithin; both
 * as on the wire: a sealed answer counts its seals);
 * no datagram when no file is asked for or not even the notice fits. `asked`:
 * how many files the query asked for; `whole`: how many of them the answer
 * holds whole.
 */
export function answerTo(
  announced: Announced,
  want: QueryWant,
  queryBytes: number,
  format: AnswerFormat,
  /** Bytes of the budget kept for a datagram sent after the answer (a cookie notice). */
  reserve = 0,
): { datagrams: Buffer[]; bytes: number; asked: number; whole: number } {
  const asked = asksEverything(want)
    ? announced.files
    : announced.files.filter((f) => f.id === want.id || f.name === want.name)
  if (asked.length === 0) return { datagrams: [], bytes: 0, asked: 0, whole: 0 }
  const budget = ANSWER_FACTOR * queryBytes - reserve
  // Every datagram but the last is nearly full (entries are a few hundred bytes), so this many fills the budget; fewer would only make a smaller answer.
  const packed = packAnnouncements(announced.peer, format.tcpPort, asked, {
    maxBytes: format.maxBytes,
    ...(format.transport ? { transport: format.transport } : {}),
    ...(format.nonce ? { nonce: format.nonce } : {}),
    maxDatagrams: Math.ceil(budget / 400) + 1,
  })
  const more = (omitted: number): Buffer => encodeMore(omitted, format.intervalMs / 1000)
  return { ...answerWithin(packed, asked.length, budget, more, format.sealedBytes), asked: asked.length }
}

/** Kinds of query whose answer's size is kept (each a few dozen bytes of key). */
const SIZES_KEPT = 256

/**
 * The bytes of the last answer made to each kind of query (what it wants, its size, whether it has a nonce to say
 * back, the bytes kept for a notice) from one announcement: answerTo is pure, so the same kind of query gets an
 * answer of the same size until the announcement changes. An answerer asks before making an answer again, and
 * refuses one its budget would refuse without making it: a stranger's flood of queries that the budget refuses
 * cost the announcer the making of every answer (40–110 µs a query, most of it that; fifty-eighth session).
 */
export class AnswerSizes {
  private of: Announced | undefined
  private sizes = new LruMap<string, number>()

  /** The kind of a query (what it wants, its size, whether it has a nonce, the bytes kept for a notice), made once a query. */
  static kindOf(want: QueryWant, queryBytes: number, nonce: boolean, reserve: number): string {
    return `${queryBytes}|${nonce ? 1 : 0}|${reserve}|${want.id ?? ''}|${want.name === undefined ? '' : JSON.stringify(want.name)}`
  }

  /** The bytes of the answer to a query of `kind` from `announced`, if one was made since it was announced. */
  get(announced: Announced, kind: string): number | undefined {
    return announced === this.of ? this.sizes.get(kind) : undefined
  }

  /** An answer of `bytes` (reserve included) was made to a query of `kind` from `announced`. */
  set(announced: Announced, kind: string, bytes: number): void {
    if (announced !== this.of) {
      this.of = announced
      this.sizes = new LruMap()
    }
    this.sizes.touch(kind, bytes)
    if (this.sizes.size > SIZES_KEPT) this.sizes.deleteOldest()
  }
}
