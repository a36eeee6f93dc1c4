import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Bitfield } from '../../src/core/bitfield.js'
import { RaceFailures } from '../../src/core/download/manifest-race-lost.js'
import { REFUSED_SETTLE_MS, RefusedUs } from '../../src/core/download/refused-us.js'
import { Scheduler } from '../../src/core/download/scheduler.js'
import { StallWatch } from '../../src/core/download/stall-watch.js'
import { hasCode, P2PError } from '../../src/core/errors.js'
import { refusedBy } from '../../src/core/transfer/allow-refusal.js'

/**
 * What a download says of the peers that refused our key (refused-us.ts): when, and in which words, a lost
 * manifest race (manifest-race-lost.ts) and the stall watch (stall-watch.ts) end on them.
 */

const PEER_ID = 'AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG-HHHHHHH'
const id = 'ab'.repeat(32)

describe('what a download that got refusals says (refused-us.ts)', () => {
  it('settles REFUSED_SETTLE_MS after the last refusal; says who, our peer ID and what to do, escaped', () => {
    let now = 0
    const refused = new RefusedUs(() => now, 'OURS')
    assert.equal(refused.settled(), false)
    refused.add('10.0.0.5:1', PEER_ID)
    now = REFUSED_SETTLE_MS - 1
    refused.add('\u001b[31m:2', 'X\u202eY')
    assert.equal(refused.settled(), false)
    now += REFUSED_SETTLE_MS
    assert.equal(refused.settled(), true)
    // In an open swarm a stranger may refuse: nothing settles before --wait.
    const open = new RefusedUs(() => now, 'OURS', false)
    open.add('10.0.0.5:1', PEER_ID)
    now += 10 * REFUSED_SETTLE_MS
    assert.equal(open.settled(), false)
    const err = refused.error('no peer delivered the manifest')
    assert.equal(err.code, 'E_AUTH')
    assert.match(
      err.message,
      /^no peer delivered the manifest: 2 peers that have it, 10\.0\.0\.5:1 \(peer ID AAAAAAA-.*\), \\x1b\[31m:2 \(peer ID X\\u202eY\), refused us: our peer ID \(OURS\) is not on their allow-list; give their owners our peer ID \(p2p id prints it\) to add to their --allow$/,
    )
  })

  it('a lost race names refusals after "busy or unreachable" (another peer could answer later), before "not found"', () => {
    const refused = new RefusedUs(() => 0, 'OURS')
    refused.add('10.0.0.5:1', PEER_ID)
    const failures = new RaceFailures()
    failures.record(refusedBy('10.0.0.5:1', PEER_ID, 'no'), { address: '10.0.0.5', port: 1 })
    failures.record(new P2PError('E_NOT_FOUND', 'peer: no such file'), { address: '10.0.0.6', port: 1 })
    const lost = failures.lost(id, undefined, refused)
    assert.equal(lost.code, 'E_AUTH')
    // The whole id, as every lost race says it (a mistyped id's first 12 characters look like the right one's).
    assert.ok(
      lost.message.startsWith(`no peer delivered the manifest of ${id}: the peer that has it, 10.0.0.5:1 `),
      lost.message,
    )
    failures.record(new P2PError('E_BUSY', 'peer: at its limit'), { address: '10.0.0.7', port: 1 })
    const busy = failures.lost(id, undefined, refused)
    assert.equal(busy.code, 'E_NO_PEER')
    assert.match(busy.message, /busy or unreachable; 1 peer refused us \(10\.0\.0\.5:1 \(peer ID .*\): its allow-list/)
    assert.equal(new RaceFailures().lost(id, undefined, new RefusedUs(() => 0)).code, 'E_NOT_FOUND')
  })

  it('the stall watch ends E_AUTH once refusals settled with no live peer left, not at --wait; else E_NO_PEER naming them', () => {
    let now = 0
    const refused = new RefusedUs(() => now, 'OURS')
    const s = new Scheduler(2, { now: () => now })
    const watch = new StallWatch(
      s,
      () => 1,
      60_000,
      () => now,
      refused,
    )
    watch.check([])
    refused.add('10.0.0.5:1', PEER_ID)
    now = REFUSED_SETTLE_MS - 1
    watch.check([]) // not settled yet
    now = REFUSED_SETTLE_MS
    assert.throws(
      () => watch.check([]),
      (err) =>
        hasCode(err, 'E_AUTH') &&
        /^2 chunks .* have no live peer: the peer that has them, 10\.0\.0\.5:1 /.test(err.message),
    )
    // A live peer without the chunks is another peer: --wait is waited, and the refusal named beside.
    const other = new Scheduler(2, { now: () => now })
    other.setPeer('b', new Bitfield(2))
    const waiting = new StallWatch(
      other,
      () => 1,
      5000,
      () => now,
      refused,
    )
    waiting.check(['b'])
    now += 4999
    waiting.check(['b'])
    now += 1
    assert.throws(
      () => waiting.check(['b']),
      (err) => hasCode(err, 'E_NO_PEER') && /; 1 peer refused us \(10\.0\.0\.5:1/.test(err.message),
    )
  })
})
