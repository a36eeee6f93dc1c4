import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fetchByName, type NameGate } from '../../src/cli/by-name.js'
import type { PeerDirectory } from '../../src/core/download/peers.js'
import { NAME_QUIET_MS } from '../../src/core/download/quiet.js'
import { type ErrorCode, hasCode, P2PError } from '../../src/core/errors.js'
import { silentLogger } from '../../src/core/log.js'

/**
 * A peer directory whose files of one name are what the test says, when it
 * says (real time: the product's quiet interval is NAME_QUIET_MS). Only what
 * fetchByName reads of a directory is here.
 */
class NamedFiles {
  readonly queriedAt = performance.now()
  private ids: string[] = []
  private wake: Array<() => void> = []

  answer(id: string): void {
    this.ids.push(id)
    for (const w of this.wake.splice(0)) w()
  }

  leave(id: string): void {
    this.ids = this.ids.filter((other) => other !== id)
    for (const w of this.wake.splice(0)) w()
  }

  named(): Array<{ id: string; size: number; peers: unknown[] }> {
    return this.ids.map((id) => ({ id, size: 1000, peers: [] }))
  }

  namedIds(): string[] {
    return [...this.ids]
  }

  /** Peers off an allow-list that announced the name (none here: no allow-list). */
  unlistedNamers(): { peers: string[]; more: boolean } {
    return { peers: [], more: false }
  }

  waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal?.addEventListener('abort', done)
      this.wake.push(done)
    })
  }
}

/** A directory where 'a' has answered, then each event at its time (ms from now): another id answers or one leaves. */
function answeredA(...events: Array<[ms: number, what: 'answer' | 'leave', id: string]>): NamedFiles {
  const dir = new NamedFiles()
  dir.answer('a')
  for (const [ms, what, id] of events) setTimeout(() => dir[what](id), ms)
  return dir
}

const ctx = (wait = 10, signal = new AbortController().signal) => ({ settings: { wait }, signal, log: silentLogger() })

/** fetchByName over the scripted directory, for the name "x.bin", non-interactive. */
const byName = <T>(dir: NamedFiles, fetch: (id: string, gate?: NameGate) => Promise<T>, c = ctx()) =>
  fetchByName(c, dir as unknown as PeerDirectory, 'x.bin', false, fetch)

/** Rejects with a P2PError of `code`. */
const rejectsWith = (outcome: Promise<unknown>, code: ErrorCode) => assert.rejects(outcome, (err) => hasCode(err, code))

/** A fetch that records when it was called and for which id, and ends as `outcome` says. */
function recordingFetch(outcome: (gate: NameGate | undefined) => Promise<string>) {
  const calls: Array<{ id: string; at: number; speculative: boolean }> = []
  const fetch = async (id: string, gate?: NameGate): Promise<string> => {
    calls.push({ id, at: performance.now(), speculative: gate !== undefined })
    return outcome(gate)
  }
  return { calls, fetch }
}

/** Like a download: works until `ms` has passed or the gate's signal aborts, then awaits the gate's decision. */
const download = (ms: number) => async (gate: NameGate | undefined) => {
  await sleep(ms, undefined, gate ? { signal: gate.signal } : {}).catch(() => {
    throw new P2PError('E_INTERRUPTED', 'the download stopped')
  })
  await gate?.decided()
  return 'receipt'
}

describe('fetchByName', () => {
  it('fetches the only file of the name at once, and finishes only once the name is decided', async () => {
    const dir = new NamedFiles()
    setTimeout(() => dir.answer('a'), 50)
    const { calls, fetch } = recordingFetch(download(100))
    const started = performance.now()
    const result = await byName(dir, fetch)
    const took = performance.now() - started
    assert.equal(result, 'receipt')
    assert.deepEqual(
      calls.map((c) => [c.id, c.speculative]),
      [['a', true]],
    )
    assert.ok(calls[0]!.at - started < NAME_QUIET_MS / 2, `fetched ${calls[0]!.at - started} ms after the start`)
    assert.ok(took >= NAME_QUIET_MS, `ended after ${took} ms, before the quiet interval`)
  })

  it('stops the download when another file of the name answers in time, and reports the ambiguity', async () => {
    const dir = answeredA([300, 'answer', 'b'])
    const { calls, fetch } = recordingFetch(download(60_000))
    await rejectsWith(byName(dir, fetch), 'E_AMBIGUOUS')
    assert.equal(calls.length, 1)
  })

  it('stops the download the moment another file of the name answers, not at the decision', async () => {
    const dir = answeredA([300, 'answer', 'b'])
    let stoppedAfter = Infinity
    const started = performance.now()
    const { fetch } = recordingFetch(async (gate) => {
      await new Promise((resolve) => gate!.signal.addEventListener('abort', resolve))
      stoppedAfter = performance.now() - started
      throw new P2PError('E_INTERRUPTED', 'the download stopped')
    })
    await rejectsWith(byName(dir, fetch), 'E_AMBIGUOUS')
    assert.ok(stoppedAfter < 300 + NAME_QUIET_MS / 2, `stopped ${stoppedAfter} ms after the start`)
    assert.ok(performance.now() - started >= 300 + NAME_QUIET_MS - 5, 'decided on quiet')
  })

  it('another file that answered and left again before the name was quiet still makes it ambiguous (its goodbye may be forged)', async () => {
    const dir = answeredA([200, 'answer', 'b'], [400, 'leave', 'b'])
    const { calls, fetch } = recordingFetch(download(60_000))
    await rejectsWith(
      byName(dir, (id, gate) => (gate ? fetch(id, gate) : Promise.resolve(`again ${id}`))),
      'E_AMBIGUOUS',
    )
    assert.equal(calls.length, 1)
  })

  it('two files at the first look, one then gone (a forged goodbye): ambiguous, never the other alone', async () => {
    const dir = answeredA()
    dir.answer('b')
    setTimeout(() => dir.leave('a'), 200)
    const { calls, fetch } = recordingFetch(download(60_000))
    await rejectsWith(
      byName(dir, (id, gate) => (gate ? fetch(id, gate) : Promise.resolve(`then ${id}`))),
      'E_AMBIGUOUS',
    )
    assert.equal(calls.length, 0, 'nothing fetched before the decision')
  })

  it('goes on with the first file when it is gone by the time the name is quiet: a goodbye (or a forged one) is no other file', async () => {
    const dir = answeredA([300, 'leave', 'a'])
    const { calls, fetch } = recordingFetch(download(NAME_QUIET_MS + 500))
    assert.equal(await byName(dir, fetch), 'receipt')
    assert.deepEqual(
      calls.map((c) => [c.id, c.speculative]),
      [['a', true]],
      'the one download, never stopped',
    )
  })

  it('the first file gone and another there once the name is quiet: ambiguous, never the other alone (a forged goodbye must not hand it the name)', async () => {
    const dir = answeredA([200, 'leave', 'a'], [300, 'answer', 'b'])
    const { calls, fetch } = recordingFetch(download(60_000))
    await rejectsWith(
      byName(dir, (id, gate) => (gate ? fetch(id, gate) : Promise.resolve(`then ${id}`))),
      'E_AMBIGUOUS',
    )
    assert.equal(calls.length, 1)
  })

  it("Ctrl-C while the name is decided stops the download before its final name, with the user's reason", async () => {
    for (const second of [false, true]) {
      const dir = second ? answeredA([150, 'answer', 'b']) : answeredA()
      const user = new AbortController()
      setTimeout(() => user.abort(new P2PError('E_INTERRUPTED', 'interrupted by SIGINT')), 300)
      // Its transfer done, it waits for the decision; or, stopped by the other's answer, it has failed already.
      const { fetch } = recordingFetch(download(second ? 60_000 : 10))
      await assert.rejects(byName(dir, fetch, ctx(10, user.signal)), /interrupted by SIGINT/)
    }
  })

  it('stops a download that finished its transfer before its final name when another answers in time', async () => {
    const dir = answeredA([400, 'answer', 'b'])
    const { fetch } = recordingFetch(download(10))
    await rejectsWith(byName(dir, fetch), 'E_AMBIGUOUS')
  })

  it("reports an early failure only once the name is decided: the download's error, or the ambiguity", async () => {
    for (const second of [false, true]) {
      const dir = second ? answeredA([300, 'answer', 'b']) : answeredA()
      const started = performance.now()
      const { fetch } = recordingFetch(async () => {
        throw new P2PError('E_NO_PEER', 'no peer delivered')
      })
      await rejectsWith(byName(dir, fetch), second ? 'E_AMBIGUOUS' : 'E_NO_PEER')
      assert.ok(performance.now() - started >= NAME_QUIET_MS - 5)
    }
  })

  it('fetches nothing before the name is decided when several files answer at first', async () => {
    const dir = new NamedFiles()
    dir.answer('a')
    dir.answer('b')
    const { calls, fetch } = recordingFetch(download(10))
    await rejectsWith(byName(dir, fetch), 'E_AMBIGUOUS')
    assert.equal(calls.length, 0)
  })

  it('lists a few of many files of the name, and how many more', async () => {
    const dir = new NamedFiles()
    for (let i = 0; i < 80; i++) dir.answer(String(i).padStart(64, '0'))
    const { fetch } = recordingFetch(download(10))
    await assert.rejects(byName(dir, fetch), (err: Error) => {
      assert.match(err.message, /^80 different files are named "x\.bin": .* and 75 more; pick one with --id$/)
      assert.ok(err.message.length < 600, err.message)
      assert.ok(err.message.includes(String(0).padStart(64, '0')), 'each id whole, as --id takes it')
      return true
    })
  })

  it('says E_NOT_FOUND when no file of the name answers within --wait', async () => {
    const dir = new NamedFiles()
    const { calls, fetch } = recordingFetch(download(10))
    await rejectsWith(byName(dir, fetch, ctx(0.2)), 'E_NOT_FOUND')
    assert.equal(calls.length, 0)
  })
})
