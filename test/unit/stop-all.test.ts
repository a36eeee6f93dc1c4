import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { stopAll } from '../../src/cli/stopping.js'
import { P2PError } from '../../src/core/errors.js'
import { silentLogger } from '../../src/core/log.js'

describe("a command's parts stopped together (stopAll)", () => {
  it('waits for every part, a failing one reported as one printable warning line and never thrown', async () => {
    const lines: string[] = []
    let slowStopped = false
    const slow = new Promise<void>((resolve) =>
      setTimeout(() => {
        slowStopped = true
        resolve()
      }, 50),
    )
    const failing = Promise.reject(new P2PError('E_IO', 'disk full writing /tmp/x\u001b[31m'))
    const failed = await stopAll(
      { 'the server': slow, 'the DHT': failing, seeding: undefined },
      { log: silentLogger(), err: (l) => lines.push(l) },
    )
    assert.deepEqual(failed, ['the DHT'], 'the parts that failed, for what the command may still claim')
    assert.ok(slowStopped, 'the slow part was waited for although another failed')
    assert.equal(lines.length, 1)
    assert.match(lines[0]!, /stopping the DHT failed: disk full writing \/tmp\/x/)
    assert.ok(!lines[0]!.includes('\u001b[31m'), 'the error is made printable')
  })

  it('says nothing when every part stops', async () => {
    const lines: string[] = []
    const failed = await stopAll(
      { a: Promise.resolve(), b: undefined },
      { log: silentLogger(), err: (l) => lines.push(l) },
    )
    assert.deepEqual(failed, [])
    assert.deepEqual(lines, [])
  })
})
