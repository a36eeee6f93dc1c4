import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { hasCode } from '../../src/core/errors.js'
import { acquireLock } from '../../src/core/lock.js'
import { processStamp } from '../../src/core/process-stamp.js'
import { tmpDir } from '../helpers/files.js'
import { lockModule, otherProcess } from '../helpers/lock-holder.js'

/** A download's lock (lock.ts): one holder at a time, in one process as across processes. */
describe('download lock', () => {
  it('keeps two downloads of one file in one process apart; released, it is free again', async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, 'locks', 'x.lock')
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock(path, 'x')))
    const held = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    assert.equal(held.length, 1, 'one of eight at once')
    for (const r of results)
      if (r.status === 'rejected') assert.ok(hasCode(r.reason, 'E_LOCKED') && r.reason.details?.pid === process.pid)
    const me = processStamp()!
    const line = await readFile(path, 'utf8')
    assert.equal(line, `${me.pid} ${me.start} ${me.boot}\n`, "the holder's lock file is there, whole")
    assert.ok(Buffer.byteLength(line) <= 64, 'within what earlier versions read of a lock (64 bytes)')
    const other = otherProcess(path)
    assert.equal(await other.answer, 'E_LOCKED', 'and another process is refused')
    await other.done()
    // However the path is spelled: relative, or through a link to the directory.
    await symlink(join(dir, 'locks'), join(dir, 'linked'))
    for (const spelled of [relative(process.cwd(), path), join(dir, 'linked', 'x.lock')])
      await assert.rejects(acquireLock(spelled, 'x'), (err) => hasCode(err, 'E_LOCKED'), spelled)
    await held[0]!()
    const again = await acquireLock(path, 'x')
    await held[0]!() // a second release of the first lock leaves the second alone
    await assert.rejects(acquireLock(path, 'x'), (err) => hasCode(err, 'E_LOCKED'))
    await again()
    assert.deepEqual(await readdir(join(dir, 'locks')), [], 'no lock file, no temp file')
  })

  it('takes over a lock file holding our pid that this process does not hold (an earlier process had the pid)', async (t) => {
    const path = join(await tmpDir(t), 'x.lock')
    await writeFile(path, `${process.pid}\n`)
    const release = await acquireLock(path, 'x')
    await release()
  })

  it('takes over a lock whose owner is gone though its pid runs: another start time, another boot', async (t) => {
    const me = processStamp()!
    const parent = processStamp(process.ppid)!
    for (const [why, line] of [
      ['the pid was taken again by a process started later', `${parent.pid} ${BigInt(parent.start) + 1n} ${me.boot}`],
      ['written before the last reboot', `${parent.pid} ${parent.start} 00000000-0000-0000-0000-000000000000`],
      ['our own pid, an earlier process of it', `${me.pid} ${BigInt(me.start) + 1n} ${me.boot}`],
      ['a pid no process has (above pid_max)', `${2 ** 22 + 1} ${parent.start} ${me.boot}`],
    ]) {
      const path = join(await tmpDir(t), 'x.lock')
      await writeFile(path, `${line}\n`)
      const release = await acquireLock(path, 'x')
      await release()
      assert.deepEqual(await readdir(dirname(path)), [], why)
    }
  })

  it('refuses a lock its owner still holds, by stamp or (written without one) by pid', async (t) => {
    const parent = processStamp(process.ppid)!
    for (const line of [`${parent.pid} ${parent.start} ${parent.boot}`, `${parent.pid}`]) {
      const path = join(await tmpDir(t), 'x.lock')
      await writeFile(path, `${line}\n`)
      await assert.rejects(acquireLock(path, 'x'), (err) => hasCode(err, 'E_LOCKED') && err.details?.pid === parent.pid)
    }
  })

  it('keeps two worker threads of one process apart: the lock names the process, not the thread', async (t) => {
    const path = join(await tmpDir(t), 'x.lock')
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       import(${JSON.stringify(lockModule)}).then(async ({ acquireLock }) => {
         const release = await acquireLock(${JSON.stringify(path)}, 'x');
         parentPort.postMessage('held');
         parentPort.once('message', async () => { await release(); parentPort.postMessage('released') });
       })`,
      { eval: true },
    )
    t.after(() => worker.terminate())
    assert.equal((await once(worker, 'message'))[0], 'held')
    await assert.rejects(acquireLock(path, 'x'), (err) => hasCode(err, 'E_LOCKED') && err.details?.pid === process.pid)
    worker.postMessage('release')
    assert.equal((await once(worker, 'message'))[0], 'released')
    const release = await acquireLock(path, 'x')
    await release()
  })

  it('a worker thread terminated while it holds a lock leaves it stale; alive, it holds it against other processes', async (t) => {
    const path = join(await tmpDir(t), 'x.lock')
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       import(${JSON.stringify(lockModule)}).then(async ({ acquireLock }) => {
         await acquireLock(${JSON.stringify(path)}, 'x');
         parentPort.postMessage('held');
         parentPort.once('message', () => {}); // alive until terminated
       })`,
      { eval: true },
    )
    t.after(() => worker.terminate())
    assert.equal((await once(worker, 'message'))[0], 'held')
    const me = processStamp()!
    const [pid, start, boot, thread] = (await readFile(path, 'utf8')).trim().split(' ')
    assert.deepEqual([pid, start, boot], [String(me.pid), me.start, me.boot])
    assert.ok(thread !== undefined && Number(thread) !== me.pid, `the worker's own thread is named (${thread})`)
    const other = otherProcess(path)
    assert.equal(await other.answer, 'E_LOCKED', 'another process is refused while the worker runs')
    await other.done()
    await assert.rejects(acquireLock(path, 'x'), (err) => hasCode(err, 'E_LOCKED'))
    await worker.terminate() // it never released the lock
    const taker = otherProcess(path)
    assert.equal(await taker.answer, 'held', 'another process takes it over')
    await taker.done()
    const release = await acquireLock(path, 'x')
    await release()
  })

  it("judges a lock's thread: alive in its process holds it, gone or this very thread leaves it stale", async (t) => {
    const me = processStamp()!
    const parent = processStamp(process.ppid)!
    const held = [
      ["the parent's main thread", `${parent.pid} ${parent.start} ${parent.boot} ${parent.pid}`],
      ['a thread field that is not a number: the process decides', `${parent.pid} ${parent.start} ${parent.boot} x1`],
    ]
    for (const [why, line] of held) {
      const path = join(await tmpDir(t), 'x.lock')
      await writeFile(path, `${line}\n`)
      await assert.rejects(acquireLock(path, 'x'), (err) => hasCode(err, 'E_LOCKED'), why)
    }
    const stale = [
      [
        'a thread the parent does not have (above pid_max)',
        `${parent.pid} ${parent.start} ${parent.boot} ${2 ** 22 + 1}`,
      ],
      ['this very thread, which does not hold it', `${me.pid} ${me.start} ${me.boot} ${me.pid}`],
    ]
    for (const [why, line] of stale) {
      const path = join(await tmpDir(t), 'x.lock')
      await writeFile(path, `${line}\n`)
      const release = await acquireLock(path, 'x')
      await release()
      assert.deepEqual(await readdir(dirname(path)), [], why)
    }
  })

  it('gives a stale lock to one of several processes taking it over at once (each removes only the file it judged stale)', async (t) => {
    const me = processStamp()!
    for (let round = 0; round < 8; round++) {
      const path = join(await tmpDir(t), 'x.lock')
      await writeFile(path, `${2 ** 22 + 1} 1 ${me.boot}\n`) // a pid above pid_max: no process has it
      const others = Array.from({ length: 5 }, () => otherProcess(path))
      const outputs = await Promise.all(others.map((o) => o.answer))
      await Promise.all(others.map((o) => o.done()))
      assert.equal(outputs.filter((o) => o === 'held').length, 1, `round ${round}: ${outputs.join(', ')}`)
      assert.deepEqual(await readdir(dirname(path)), [], 'no lock left, nothing moved aside left')
    }
  })

  it('gives a lock to one of several processes asking at once', async (t) => {
    const path = join(await tmpDir(t), 'x.lock')
    const others = Array.from({ length: 6 }, () => otherProcess(path))
    const outputs = await Promise.all(others.map((o) => o.answer))
    await Promise.all(others.map((o) => o.done()))
    assert.equal(outputs.filter((o) => o === 'held').length, 1, outputs.join(', '))
    assert.equal(outputs.filter((o) => o === 'E_LOCKED').length, 5, outputs.join(', '))
  })
})
