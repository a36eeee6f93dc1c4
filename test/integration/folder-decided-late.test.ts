import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Bitfield } from '../../src/core/bitfield.js'
import { type DownloadProgress, download } from '../../src/core/download/downloader.js'
import { planOf } from '../../src/core/item.js'
import { splitPath } from '../../src/core/split-item.js'
import { openStore } from '../../src/core/store.js'
import { createChunkServer } from '../../src/core/transfer/chunk-server.js'
import { onCleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'
import { makeTree, type TreeSpec, treeListing } from '../helpers/tree-files.js'

/**
 * A folder downloaded while the caller has not yet decided it wants it
 * (`nameDecided`, p2p-download NAME: cli/by-name.ts): its chunks come into
 * the store meanwhile, nothing is made in the downloads directory until the
 * decision, and the temporary tree it then begins (deferred-tree.ts) is
 * placed or removed exactly once, whatever the order of the decision, the
 * chunks and a stop.
 */

const FILES = 60
const CHUNK = 4096

async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [])
}

describe('a folder whose name is decided late', () => {
  it('fetches its chunks meanwhile and begins its tree at the decision, or never; every order of decision, chunks and stop', {
    timeout: 180_000,
  }, async (t) => {
    const base = await tmpDir(t)
    const folder = join(base, 'src', 'tree')
    const spec: TreeSpec = { 'empty/': 0 }
    for (let i = 0; i < FILES; i++) spec[`d${i % 3}/f${i}`] = 1 + ((i * 2_777) % (3 * CHUNK))
    spec['d0/nothing'] = ''
    await makeTree(folder, spec)
    const seed = await openStore({ dir: join(base, 'seed') })
    const split = await splitPath(folder, { store: seed, chunkSize: CHUNK })
    const server = createChunkServer({ store: seed, host: '127.0.0.1', port: 0 })
    const { port } = await server.listen()
    onCleanup(t, () => server.close(100))
    const manifest = (await seed.get(split.id))!.manifest
    const total = planOf(manifest).size
    const peer = { address: '127.0.0.1', port, have: Bitfield.full(planOf(manifest).chunkCount) }
    const peers = {
      peers: () => [peer],
      waitForChange: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 20))),
    }
    const source = await treeListing(folder)
    let run = 0

    await fc.assert(
      fc.asyncProperty(
        fc.record({
          // The decision: at what share of the bytes verified (1: only once every chunk is in), and which way.
          decideAt: fc.constantFrom(0, 0.3, 0.7, 1),
          verdict: fc.constantFrom('mine', 'not mine'),
          // A stop (Ctrl-C): none, or at a share of the bytes, or just after the decision.
          stopAt: fc.constantFrom(undefined, 0.2, 0.8, 'after decision'),
        }),
        async ({ decideAt, verdict, stopAt }) => {
          const dir = join(base, `run${run++}`)
          const downloads = join(dir, 'downloads')
          const stop = new AbortController()
          let decide!: () => void
          const decision = new Promise<void>((resolve, reject) => {
            decide = () => {
              if (verdict === 'mine') resolve()
              else reject(new Error('another file answered'))
              if (stopAt === 'after decision') queueMicrotask(() => stop.abort(new Error('stopped')))
            }
          })
          decision.catch(() => undefined)
          let decided = false
          let done = 0
          let madeBeforeDecision: string[] = []
          // A download that fetches nothing before the decision never reaches its share: decided after 20 s
          // anyway, so that it fails on the assertion below instead of hanging.
          let decidedLate = false
          const late = setTimeout(() => {
            if (decided) return
            decided = decidedLate = true
            decide()
          }, 20_000)
          const check = async (progress: DownloadProgress): Promise<void> => {
            done = progress.doneBytes
            const share = done / total
            if (!decided) madeBeforeDecision = madeBeforeDecision.concat(await entries(downloads))
            if (typeof stopAt === 'number' && share >= stopAt) stop.abort(new Error('stopped'))
            if (!decided && share >= decideAt) {
              decided = true
              decide()
            }
          }
          const receipt = download({
            id: split.id,
            store: await openStore({ dir: join(dir, 'chunks') }),
            downloadsDir: downloads,
            peers,
            signal: stop.signal,
            onProgress: (p) => void check(p),
            // Asked for at once (a folder, to begin its tree when it comes) and once every chunk is in: no side effect.
            nameDecided: () => decision,
          })
          const outcome = await receipt.then(
            (r) => ({ ok: true as const, r }),
            (err: unknown) => ({ ok: false as const, err }),
          )
          assert.deepEqual(madeBeforeDecision, [], 'nothing in downloads/ before the decision')
          clearTimeout(late)
          assert.ok(!decidedLate, `the fetch waited for the decision (${done} of ${total} bytes verified before it)`)
          const left = await entries(downloads)
          if (outcome.ok) {
            assert.equal(verdict, 'mine', 'placed only when the decision said so')
            assert.deepEqual(left, ['tree'], 'the tree placed, nothing beside it')
            assert.deepEqual(await treeListing(outcome.r.path), source)
          } else {
            assert.deepEqual(left, [], `nothing left in downloads/ (${String(outcome.err)})`)
            if (stopAt === undefined)
              assert.equal(verdict, 'not mine', `failed without a reason: ${String(outcome.err)}`)
          }
          // The store entry is unlocked and resumable: a run that wants the folder completes it.
          const again = await download({
            id: split.id,
            store: await openStore({ dir: join(dir, 'chunks') }),
            downloadsDir: downloads,
            peers,
          })
          assert.deepEqual(await treeListing(again.path), source)
        },
      ),
      { numRuns: 24 },
    )
  })
})
