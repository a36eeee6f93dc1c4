import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { isRunningNow, processStamp } from '../../src/core/process-stamp.js'

describe('a process stamp: this boot, this pid, this start', () => {
  it('knows this process now, and no longer a process that has exited, nor one with another start or boot', () => {
    const me = processStamp()
    assert.ok(me, 'Linux has /proc')
    assert.ok(isRunningNow(me))
    assert.equal(isRunningNow({ ...me, start: `${BigInt(me.start) + 1n}` }), false, 'another start: another process')
    assert.equal(isRunningNow({ ...me, boot: '00000000-0000-0000-0000-000000000000' }), false, 'an earlier boot')
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    })
    const gone = Number(child.stdout)
    assert.ok(gone > 0)
    assert.equal(processStamp(gone), undefined, 'exited (and reaped) leaves no process to vouch')
    assert.equal(processStamp(-1), undefined)
    assert.equal(processStamp(0), undefined)
  })

  it("reads the start time after the command name, whatever that holds (spaces, parentheses): a child's start is its own", async () => {
    const child = spawn(process.execPath, ['-e', 'process.title = "a) b (c"; setTimeout(() => {}, 10000)'])
    try {
      await new Promise((r) => setTimeout(r, 300))
      assert.ok(readFileSync(`/proc/${child.pid}/stat`, 'latin1').includes('(a) b (c)'), 'the case itself')
      const stamp = processStamp(child.pid!)
      const me = processStamp()!
      assert.ok(stamp)
      assert.ok(BigInt(stamp.start) >= BigInt(me.start), 'started after this process')
      assert.ok(isRunningNow(stamp))
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
      const deadline = Date.now() + 5000
      while (!/\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'latin1')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      assert.match(readFileSync(`/proc/${zombie}/stat`, 'latin1'), /\) Z /, 'the case itself')
      assert.equal(processStamp(zombie), undefined)
    } finally {
      parent.kill('SIGKILL')
    }
  })
})
