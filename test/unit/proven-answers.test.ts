import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { type CookieNotice, type DiscoveryMessage, encodeQuery } from '../../src/core/discovery/announcement.js'
import { decodeDatagram } from '../../src/core/discovery/announcement-decode.js'
import { ANSWER_BYTES_PER_S, PROVEN_FAIR_SHARE_MS, QueryAnswerer } from '../../src/core/discovery/query-answerer.js'
import { silentLogger } from '../../src/core/log.js'
import { linkTo } from '../helpers/announcer-link.js'

const PEER = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const files = Array.from({ length: 30 }, (_, n) => ({
  id: n.toString(16).padStart(64, '0'),
  name: `f${n}.bin`,
  size: 4096,
  have: Bitfield.full(1),
}))
describe('answers to proven queries, shared when spent (query-answerer.ts, rate-limit.ts)', () => {
  it('a stranger with cookies for thirty addresses keeps their total spent, and a quiet querier with its cookie is still answered', async () => {
    let now = 0
    const answerer = new QueryAnswerer(
      { tcpPort: 47010, intervalMs: 5000, budgetClock: () => now },
      linkTo(() => ({ peer: PEER, files })),
      silentLogger(),
    )
    let answerBytes = 0
    /** One query from `address`, with its cookie if any; what came back once the answer's sends ran. */
    const ask = async (address: string, cookie?: string): Promise<DiscoveryMessage[]> => {
      const got: DiscoveryMessage[] = []
      answerer.onMessage({
        bytes: encodeQuery({}, 1200, { cookie }),
        from: { address, port: 9999, family: 4 },
        toHost: true,
        reply: async (payload) => {
          got.push(decodeDatagram(payload))
          if (cookie !== undefined) answerBytes += payload.length
          return true
        },
      })
      await new Promise((resolve) => setImmediate(resolve))
      return got
    }
    const cookieOf = (messages: DiscoveryMessage[]): string | undefined =>
      messages.find((m): m is CookieNotice => m.type === 'cookie')?.cookie
    const cookies = new Map<string, string | undefined>()
    for (let i = 0; i <= 30; i++) cookies.set(`10.2.0.${i}`, cookieOf(await ask(`10.2.0.${i}`)))
    assert.ok(
      [...cookies.values()].every((c) => c !== undefined),
      'every address given its cookie',
    )
    // The stranger's thirty addresses ask with their cookies, each every 20 ms, for 8 s of the budgets' clock.
    const refusedBefore = answerer.stats.refused
    for (now = 0; now < 8000; now += 20) {
      const asks: Promise<DiscoveryMessage[]>[] = []
      for (let i = 1; i <= 30; i++) asks.push(ask(`10.2.0.${i}`, cookies.get(`10.2.0.${i}`)))
      await Promise.all(asks)
    }
    assert.ok(answerer.stats.refused - refusedBefore > 1000, 'the proven total spent: most of their queries refused')
    // At most the total's second and its rate, and as much again from the shared budget.
    const cap = ANSWER_BYTES_PER_S * (1 + 8 + PROVEN_FAIR_SHARE_MS / 1000 + 8)
    assert.ok(answerBytes <= cap, `${answerBytes} bytes of proven answers, over ${cap}`)
    // The querier at 10.2.0.0, asking once now with its cookie: answered from its share.
    const quiet = await ask('10.2.0.0', cookies.get('10.2.0.0'))
    assert.ok(
      quiet.some((m) => m.type === 'announce'),
      'the quiet querier answered',
    )
  })
})
