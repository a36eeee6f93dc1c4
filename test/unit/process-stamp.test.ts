import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { formatStamp, parseStamp, processStamp, stampState } from '../../src/core/process-stamp.js'

/** Until `check` holds, polled every 20 ms for at most 10 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const stat = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return ''
  }
}

describe('a process stamp: this boot, this pid, this start', () => {
  it('knows this process now; another start or another boot is another process', () => {
    const me = processStamp()
    assert.ok(me, 'Linux has /proc')
    assert.equal(stampState(me), 'running')
    assert.equal(stampState({ ...me, start: `${BigInt(me.start) + 1n}` }), 'gone', 'another start: another process')
    assert.equal(stampState({ ...me, boot: '00000000-0000-0000-0000-000000000000' }), 'gone', 'an earlier boot')
    assert.equal(processStamp(-1), undefined)
    assert.equal(processStamp(0), undefined)
  })

  it("reads a child's start after its command name, whatever that holds (spaces, parentheses); once it exits, it is no longer running", async () => {
    const child = spawn(process.execPath, ['-e', 'process.title = "a) b (c"; setTimeout(() => {}, 10000)'])
    const exited = once(child, 'exit')
    try {
      await until(() => stat(child.pid!).includes('(a) b (c)'), 'the title in /proc') // the case itself
      const stamp = processStamp(child.pid!)
      assert.ok(stamp)
      assert.ok(BigInt(stamp.start) >= BigInt(processStamp()!.start), 'started after this process')
      assert.equal(stampState(stamp), 'running')
      child.kill('SIGKILL')
      await exited
      assert.notEqual(stampState(stamp), 'running', 'exited and reaped: gone, or its pid now another process')
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('takes a zombie (exited, not yet reaped by its parent) for gone', async () => {
    // The shell starts a short sleep and becomes a long one, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 10'], { stdio: ['ignore', 'pipe', 'ignore'] })
    try {
      const [line] = (await once(parent.stdout, 'data')) as [Buffer]
      const zombie = Number(line.toString().trim())
      const alive = processStamp(zombie)
      await until(() => /\) Z /.test(stat(zombie)), 'a zombie') // the case itself
      assert.equal(processStamp(zombie), undefined)
      if (alive) assert.equal(stampState(alive), 'gone')
    } finally {
      parent.kill('SIGKILL')
    }
  })

  it('reads back what it writes; refuses anything else (property)', () => {
    const stamps = fc.record({
      pid: fc.integer({ min: 1, max: 2 ** 31 }),
      start: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
      boot: fc.uuid(),
    })
    fc.assert(
      fc.property(stamps, (stamp) => {
        const [pid, start, boot] = formatStamp(stamp).split(' ')
        assert.deepEqual(parseStamp(pid, start, boot), { ...stamp })
        assert.deepEqual(parseStamp(stamp.pid, start, boot), { ...stamp })
      }),
    )
    for (const [pid, start, boot] of [
      ['0', '1', 'b'],
      ['-1', '1', 'b'],
      ['1.5', '1', 'b'],
      [2 ** 31 + 1, '1', 'b'],
      ['1', '-1', 'b'],
      ['1', '1'.repeat(21), 'b'],
      ['1', '1', 'B!'],
      ['1', undefined, 'b'],
      ['1', '1', undefined],
    ])
      assert.equal(parseStamp(pid, start, boot), undefined, `${pid} ${start} ${boot}`)
  })
})
