import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Announcer } from '../../src/core/discovery/announcer.js'
import { silentLogger } from '../../src/core/log.js'
import { splitFile } from '../../src/core/split.js'
import { ChunkStore, chunkFileName, type StoreEntry } from '../../src/core/store.js'
import { StoreChanges } from '../../src/core/store-changes.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort } from '../helpers/swarm.js'

/**
 * A scan for a change reads again only the entry directories that had an
 * event (store-changes.ts, store.ts `scan`): what it finds must be what a
 * scan reading everything finds, whatever happened in the store, with real
 * directories and real inotify events.
 */

const CHUNK = 4096
const FILES = ['a.bin', 'b.bin', 'c.bin']
const CHUNKS = 5

/** A store's content as a scan reports it: id → directory and held chunks. */
function view(entries: StoreEntry[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of entries) out[e.id] = `${e.dir} ${[...e.have.indices()].join(',')}`
  return out
}

const settle = (ms = 25): Promise<void> => new Promise((done) => setTimeout(done, ms))

const action = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), file: fc.nat(FILES.length - 1), chunk: fc.nat(CHUNKS - 1) }),
  fc.record({ kind: fc.constant('restore' as const), file: fc.nat(FILES.length - 1), chunk: fc.nat(CHUNKS - 1) }),
  fc.record({ kind: fc.constant('have' as const), file: fc.nat(FILES.length - 1), bits: fc.nat(2 ** CHUNKS - 1) }),
  fc.record({ kind: fc.constant('remove' as const), file: fc.nat(FILES.length - 1) }),
  fc.record({ kind: fc.constant('remake' as const), file: fc.nat(FILES.length - 1) }),
  fc.record({ kind: fc.constant('nothing' as const) }),
)

describe('store changes: a scan for a change (store-changes.ts, store.ts)', () => {
  it('finds what a whole scan finds after any sequence of changes, with real watches', async (t) => {
    const base = await tmpDir(t)
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 8 }), async (actions) => {
        const id = run++
        const root = join(base, `store-${id}`)
        const source = (i: number): string => join(base, `${id}-${FILES[i]}`)
        const store = new ChunkStore(root)
        await store.init()
        const dirs: string[] = []
        const chunks: Buffer[][] = []
        for (const i of FILES.keys()) {
          await writeFile(source(i), randomBytes(CHUNKS * CHUNK - i))
          dirs.push((await splitFile(source(i), { store, chunkSize: CHUNK })).dir)
          chunks.push(
            await Promise.all(Array.from({ length: CHUNKS }, (_, k) => readFile(join(dirs[i]!, chunkFileName(k))))),
          )
        }
        const changes = new StoreChanges(store, () => undefined, silentLogger())
        changes.start()
        try {
          await changes.refresh()
          assert.equal(changes.takeUnchanged(), undefined, 'the first take: nothing can be told unchanged yet')
          await store.scan()
          for (const a of actions) {
            if (a.kind === 'drop') await unlink(join(dirs[a.file]!, chunkFileName(a.chunk))).catch(() => undefined)
            if (a.kind === 'restore')
              await writeFile(join(dirs[a.file]!, chunkFileName(a.chunk)), chunks[a.file]![a.chunk]!).catch(
                () => undefined,
              )
            if (a.kind === 'have') {
              const temp = join(dirs[a.file]!, 'data.have.tmp-1-00000000')
              await writeFile(temp, Buffer.from([a.bits])).catch(() => undefined)
              await rename(temp, join(dirs[a.file]!, 'data.have')).catch(() => undefined)
            }
            if (a.kind === 'remove') await rm(dirs[a.file]!, { recursive: true, force: true })
            if (a.kind === 'remake') await splitFile(source(a.file), { store, chunkSize: CHUNK }).catch(() => undefined)
            await settle() // the events of what was just done are read by now
            await changes.refresh()
            const unchanged = changes.takeUnchanged()
            assert.notEqual(unchanged, undefined, 'a scan for a change: only what changed is read')
            const found = view(await store.scan(unchanged))
            assert.deepEqual(found, view(await new ChunkStore(root).scan()), JSON.stringify(a))
          }
        } finally {
          changes.close()
        }
      }),
      { numRuns: 12 },
    )
  })

  it('takes an unchanged directory as the last scan found it, unread, and reads a changed one', async (t) => {
    const root = await tmpDir(t)
    const store = new ChunkStore(root)
    await store.init()
    const path = join(root, '..', `${root.split('/').pop()}-f.bin`)
    await writeFile(path, randomBytes(3 * CHUNK))
    t.after(() => rm(path, { force: true }))
    const { dir } = await splitFile(path, { store, chunkSize: CHUNK })
    assert.equal((await store.scan())[0]!.have.count(), 3)
    await unlink(join(dir, chunkFileName(1)))
    assert.equal((await store.scan(() => true))[0]!.have.count(), 3, 'unread: as the last scan found it')
    assert.equal((await store.scan(() => false))[0]!.have.count(), 2, 'read again')
    assert.equal((await store.scan())[0]!.have.count(), 2)
  })

  it('counts a directory as changed when it is first watched (what happened before made no event)', async (t) => {
    // As when an entry is made while a refresh lists the root: its root event is taken before it is watched.
    const root = await tmpDir(t)
    const store = new ChunkStore(join(root, 'chunks'))
    await store.init()
    const changes = new StoreChanges(store, () => undefined, silentLogger())
    changes.start()
    onCleanup(t, () => changes.close())
    await changes.refresh()
    changes.takeUnchanged()
    await store.scan()
    const path = join(root, 'late.bin')
    await writeFile(path, randomBytes(3 * CHUNK))
    const { dir } = await splitFile(path, { store, chunkSize: CHUNK })
    await settle()
    assert.equal((await store.scan(changes.takeUnchanged()))[0]!.have.count(), 3) // its root event, taken
    await unlink(join(dir, chunkFileName(1))) // not watched yet: no event
    await changes.refresh() // watched from now on
    assert.equal((await store.scan(changes.takeUnchanged()))[0]!.have.count(), 2, 'read again')
  })

  // The announcer's side: which bursts read everything. Its store's scans are slowed and counted.
  async function announcerBeside(
    t: Parameters<typeof tmpDir>[0],
    intervalMs: number,
    scan: (whole: boolean) => Promise<void>,
    rescanMs?: number,
  ) {
    const root = await tmpDir(t)
    const store = new ChunkStore(join(root, 'chunks'))
    await store.init()
    const path = join(root, 'f.bin')
    await writeFile(path, randomBytes(3 * CHUNK))
    const { dir } = await splitFile(path, { store, chunkSize: CHUNK })
    const real = store.scan.bind(store)
    store.scan = async (unchanged) => {
      await scan(unchanged === undefined)
      return real(unchanged)
    }
    const announcer = new Announcer({
      store,
      udpPort: await freeUdpPort(),
      tcpPort: 5001,
      broadcast: [BROADCAST],
      intervalMs,
      ...(rescanMs !== undefined ? { rescanMs } : {}),
      minBurstGapMs: 0,
      changeDelayMs: 0, // bursts back to back while the entry changes
    })
    onCleanup(t, () => announcer.stop())
    // The entry changes every 20 ms, as a download's data.have does: a burst for a change is always due.
    let n = 0
    const changing = setInterval(() => {
      void writeFile(join(dir, 'data.have.tmp-1-00000000'), Buffer.from([n++ & 7]))
        .then(() => rename(join(dir, 'data.have.tmp-1-00000000'), join(dir, 'data.have')))
        .catch(() => undefined)
    }, 20)
    onCleanup(t, () => clearInterval(changing))
    return announcer
  }

  it('reads the whole store after every interval when rescanMs is no longer, even when bursts for changes keep it busy', async (t) => {
    let whole = 0
    let partial = 0
    const announcer = await announcerBeside(
      t,
      300,
      async (isWhole) => {
        if (isWhole) whole++
        else partial++
        await settle(100) // a scan as slow as a large store's: the interval's ticks land in bursts
      },
      0,
    )
    await announcer.start()
    const started = performance.now()
    await settle(3000)
    const ticks = Math.floor((performance.now() - started) / 300)
    assert.ok(partial > 0, 'bursts for changes read only what changed')
    // Each tick makes the next burst whole; on a loaded machine two ticks may fall in one burst. Before, ticks
    // that landed in a burst were lost: 1 whole scan (the start's) for 10 ticks.
    assert.ok(whole >= ticks / 2, `${whole} whole scans for ${ticks} intervals (${partial} for changes)`)
  })

  it('announces the whole store every interval, and reads it whole only every rescanMs', async (t) => {
    let wholeScans = 0
    const announcer = await announcerBeside(
      t,
      300,
      async (isWhole) => {
        if (isWhole) wholeScans++
      },
      1500,
    )
    const bursts: Array<{ whole: boolean; at: number }> = []
    announcer.onBurst = (report) => bursts.push({ whole: report.whole, at: performance.now() })
    await announcer.start()
    const started = performance.now()
    await settle(3000)
    const elapsed = performance.now() - started
    const wholeBursts = bursts.filter((b) => b.whole && b.at > started).length
    assert.ok(wholeBursts >= Math.floor(elapsed / 300) / 2, `${wholeBursts} whole bursts in ${elapsed} ms`)
    // The start's, and one per 1.5 s after it (at an interval's burst): 2 or 3 in 3 s, not one per interval.
    assert.ok(wholeScans >= 2 && wholeScans <= 3, `${wholeScans} whole scans in ${elapsed} ms`)
  })

  it('reads the whole store after a scan that failed (its changes were taken)', async (t) => {
    const kinds: string[] = []
    let failed = false
    const announcer = await announcerBeside(t, 60_000, async (isWhole) => {
      kinds.push(isWhole ? 'whole' : 'changed')
      if (!isWhole && !failed) {
        failed = true
        kinds.push('failed')
        throw Object.assign(new Error('too many open files'), { code: 'EMFILE' })
      }
    })
    await announcer.start()
    await settle(500) // no interval: the start's whole scan, bursts for changes, the failure, and after it
    const after = kinds.indexOf('failed')
    assert.ok(after > 0 && kinds.length > after + 1, kinds.join(' '))
    assert.equal(kinds[after + 1], 'whole', kinds.join(' '))
  })
})
