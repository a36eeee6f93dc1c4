import { ANSWER_FACTOR, encodeMore, type QueryWant } from './announcement.js'
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
  const asked =
    want.id === undefined && want.name === undefined
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
