import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Channel } from '../../src/core/transfer/connection-services.js'
import { GracefulEnd, type IdleVerdict } from '../../src/core/transfer/graceful-end.js'
import type { TcpEnds } from '../../src/core/transfer/tcp-table.js'
import { type Unsent, UnsentBytes } from '../../src/core/transfer/unsent-bytes.js'
import { until } from '../helpers/raw-client.js'
import { TABLE_HEADER as HEADER, tableLine } from '../helpers/tcp-table-lines.js'

/**
 * How a server connection lets go (graceful-end.ts) and the poller it asks
 * (unsent-bytes.ts), driven by readings given by hand: what an idle timeout
 * comes to while a connection ends, or while the table cannot be read, and
 * what the poller costs when connections end one at a time. Found by an
 * attacker on loopback (fiftieth session).
 */

const ENDS: TcpEnds = { localAddress: '127.0.0.1', localPort: 1, remoteAddress: '127.0.0.2', remotePort: 2 }

/** A TCP channel of which only the ends, the queue and end() matter here. */
function channel(): Channel & { endedCalls: number } {
  const fake = {
    ...ENDS,
    writableLength: 0,
    endedCalls: 0,
    end() {
      fake.endedCalls++
    },
  }
  return fake as unknown as Channel & { endedCalls: number }
}

/** A poller whose readings the test gives, one at a time, to whoever watches. */
function handPoller(): { watch: UnsentBytes['watch']; give(u: Unsent): void; readonly watching: boolean } {
  let listener: ((u: Unsent) => void) | undefined
  return {
    watch: (_ends, l) => {
      listener = l
      return () => {
        if (listener === l) listener = undefined
      }
    },
    give: (u) => listener?.(u),
    get watching() {
      return listener !== undefined
    },
  }
}

function setUp() {
  const poller = handPoller()
  const ch = channel()
  let progress = 0
  let delivered = 0
  const end = new GracefulEnd(ch, poller, { progress: () => progress++, delivered: () => delivered++ })
  const verdicts: IdleVerdict[] = []
  return {
    poller,
    ch,
    end,
    verdicts,
    idle: () => end.idle((v) => verdicts.push(v)),
    counts: () => ({ progress, delivered }),
  }
}

describe('a connection that ends (graceful-end.ts)', () => {
  it('an idle timeout while ending is judged by the next reading: fewer unsent bytes are progress, none a close', () => {
    const a = setUp()
    a.end.begin()
    a.poller.give(900_000)
    a.idle()
    assert.deepEqual(a.verdicts, [], 'not judged on a reading taken before the timeout')
    a.poller.give(400_000)
    assert.deepEqual(a.verdicts, ['progress'])
    a.idle()
    a.poller.give(0)
    assert.deepEqual(a.verdicts, ['progress', 'close'], 'the peer took everything: closed, not reset')
    assert.equal(a.ch.endedCalls, 1)
    assert.equal(a.end.settled, true)
    assert.deepEqual(a.counts(), { progress: 2, delivered: 1 })
  })

  it('an idle timeout while ending, with nothing taken between two readings, is a reset', () => {
    const a = setUp()
    a.end.begin()
    a.idle()
    a.poller.give(700_000)
    assert.deepEqual(a.verdicts, [], 'a first reading has nothing to be compared with')
    a.poller.give(700_000)
    assert.deepEqual(a.verdicts, ['reset'])
    assert.equal(a.ch.endedCalls, 0, 'our half not ended: the cut may reset it')
  })

  it('failed polls: an idle timeout being judged ends in a reset after enough of them, never waits for ever', () => {
    for (const phase of ['open', 'ending'] as const) {
      const a = setUp()
      if (phase === 'ending') a.end.begin()
      a.idle()
      for (let i = 0; i < 19; i++) a.poller.give('failed')
      assert.deepEqual(a.verdicts, [], phase)
      a.poller.give('failed')
      assert.deepEqual(a.verdicts, ['reset'], phase)
    }
  })

  it('an idle timeout while ending, the connection gone from the table: a reset after MAX_MISSES readings', () => {
    const a = setUp()
    a.end.begin()
    a.poller.give(500_000)
    a.idle()
    for (let i = 0; i < 19; i++) a.poller.give('missing')
    assert.deepEqual(a.verdicts, [])
    a.poller.give('missing')
    assert.deepEqual(a.verdicts, ['reset'])
    assert.equal(a.ch.endedCalls, 0)
  })

  it('failed polls while ending and not judged are no readings: the connection waits, its half not ended', () => {
    const a = setUp()
    a.end.begin()
    for (let i = 0; i < 50; i++) a.poller.give('failed')
    assert.equal(a.ch.endedCalls, 0)
    a.poller.give(0)
    assert.equal(a.ch.endedCalls, 1)
  })
})

describe('the poller (unsent-bytes.ts) under connections that end one at a time', () => {
  const lineWith = (inode: number, tx: number): string => tableLine(0, '0100007F', 1, '0200007F', 2, '01', tx, inode)

  it('a watch begun after a pause polls no sooner than the interval after the last poll', async () => {
    let reads = 0
    const unsent = new UnsentBytes(
      async () => {
        reads++
        return [`${HEADER}${lineWith(7, 0)}`, '']
      },
      { intervalMs: 40, littleEndian: true },
    )
    const began = performance.now()
    for (let i = 0; i < 8; i++) {
      const got: Unsent[] = []
      const stop = unsent.watch(ENDS, (n) => got.push(n))
      assert.ok(await until(() => got.length > 0, 2000, 1))
      stop()
    }
    const took = performance.now() - began
    const limit = took / 40 + 2
    assert.ok(reads <= limit, `${reads} reads for 8 connections in ${took.toFixed(0)} ms, at most ${limit}`)
  })

  it("a table that cannot be read is 'failed' for every watch, and the polls go on", async () => {
    let reads = 0
    const unsent = new UnsentBytes(
      async () => {
        if (++reads <= 3) throw Object.assign(new Error('EMFILE'), { code: 'EMFILE' })
        return [`${HEADER}${lineWith(7, 10)}`, '']
      },
      { intervalMs: 5, littleEndian: true },
    )
    const got: Unsent[] = []
    const stop = unsent.watch(ENDS, (n) => got.push(n))
    assert.ok(await until(() => got.length >= 4, 2000, 1))
    stop()
    assert.deepEqual(got.slice(0, 4), ['failed', 'failed', 'failed', 10])
  })

  it('a connection watched again (ending, then judged) is still the socket its first reading showed', async () => {
    let inode = 7
    const unsent = new UnsentBytes(async () => [`${HEADER}${lineWith(inode, 4096)}`, ''], {
      intervalMs: 5,
      littleEndian: true,
    })
    const socket = {}
    const first: Unsent[] = []
    const stopFirst = unsent.watch(ENDS, (n) => first.push(n), socket)
    assert.ok(await until(() => first.length >= 1, 1000, 1))
    stopFirst()
    inode = 8 // the peer reset it and came back from the same port meanwhile
    const second: Unsent[] = []
    const stopSecond = unsent.watch(ENDS, (n) => second.push(n), socket)
    assert.ok(await until(() => second.length >= 1, 1000, 1))
    stopSecond()
    assert.deepEqual([first[0], second[0]], [4096, 'missing'])
  })

  it("a read that waits (behind a busy server's other work) is not charged to the poll: the polls stay an interval apart", async () => {
    const readAt: number[] = []
    const unsent = new UnsentBytes(
      async () => {
        readAt.push(performance.now())
        setTimeout(() => {
          const busyUntil = performance.now() + 100
          while (performance.now() < busyUntil); // others' work on the main thread while the poll waits
        }, 0)
        await new Promise((r) => setTimeout(r, 150)) // a wait, not work of the poll's own
        return [`${HEADER}${lineWith(7, 4096)}`, '']
      },
      { intervalMs: 40, littleEndian: true },
    )
    const stop = unsent.watch(ENDS, () => undefined)
    assert.ok(await until(() => readAt.length >= 3, 3000, 1), `${readAt.length} polls in 3 s`)
    stop()
    const gaps = readAt.slice(1).map((t, i) => t - readAt[i]!)
    // Each poll: its 150 ms wait, then 40 ms; were the wait charged (10 ×), 1.5 s; were the process's CPU meanwhile
    // (the main thread's 100 ms), 1 s.
    assert.ok(
      gaps.every((g) => g < 700),
      `gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`,
    )
  })

  it('another socket at the same four ends (the peer reset and came back from its port) reads missing', async () => {
    let inode = 7
    const unsent = new UnsentBytes(async () => [`${HEADER}${lineWith(inode, 4096)}`, ''], {
      intervalMs: 5,
      littleEndian: true,
    })
    const got: Unsent[] = []
    const stop = unsent.watch(ENDS, (n) => got.push(n))
    assert.ok(await until(() => got.length >= 2, 1000, 1))
    inode = 8
    const seen = got.length
    assert.ok(await until(() => got.length >= seen + 2, 1000, 1))
    stop()
    assert.deepEqual(got.slice(0, 2), [4096, 4096])
    assert.equal(got.at(-1), 'missing')
  })
})
