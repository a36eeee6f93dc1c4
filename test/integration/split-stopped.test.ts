import assert from 'node:assert/strict'
import { existsSync, readdirSync, renameSync, statSync, symlinkSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { splitFile } from '../../src/core/split.js'
import { chunkFileName } from '../../src/core/store.js'
import { randomFile } from '../helpers/files.js'
import { assertStoreHolds, setup } from '../helpers/split-store.js'

/**
 * A file split stopped (an abort, as Ctrl-C is): it returns only once no chunk is being written, a re-run finishes
 * the job, and a new entry's chunk files go with it, only from the very directory the split made (a UX audit: a
 * Ctrl-C 0.8 s into a 600 MB split left 135 MB; a review: a link swapped in had another entry's chunks deleted).
 */
describe('a split stopped', () => {
  it('stops between chunks when aborted, returns only once no chunk is being written, and a re-run finishes the job; a new entry leaves no chunk file', async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 40 * 65536)
    const entry = join(store.root, 'f.bin')
    // Each file's name, size and modification time: a write landing later changes one of them.
    const listing = (at: string) =>
      existsSync(at)
        ? readdirSync(at)
            .sort()
            .map((f) => {
              const st = statSync(join(at, f))
              return `${f} ${st.size} ${st.mtimeMs}`
            })
        : ['(no directory)']
    const stopped = async () => {
      const controller = new AbortController()
      let seen = 0
      let left: string[] = []
      await splitFile(join(dir, 'f.bin'), {
        store,
        chunkSize: 65536,
        force: true,
        signal: controller.signal,
        onProgress: () => {
          if (++seen === 20) controller.abort(new Error('stop'))
        },
      }).then(
        () => assert.fail('the split should stop'),
        (err: unknown) => {
          assert.match(String(err), /stop/)
          left = listing(entry) // at once: what is there when the split has returned
        },
      )
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepEqual(listing(entry), left, 'no write after the split returned')
      assert.equal(await store.readEntryManifest('f.bin'), undefined, 'no manifest: the entry does not look complete')
      return left
    }
    // A new entry: its chunk files go with it (a Ctrl-C left them, data no one could use).
    assert.deepEqual(await stopped(), ['(no directory)'])
    await splitFile(join(dir, 'f.bin'), { store, chunkSize: 65536 })
    // The same name's content changed (--force): a re-split stopped keeps the chunk files it found.
    const sha = await randomFile(join(dir, 'f.bin'), 40 * 65536)
    assert.ok(
      (await stopped()).some((f) => f.startsWith(chunkFileName(39))),
      'the chunk files stay',
    )
    await splitFile(join(dir, 'f.bin'), { store, chunkSize: 65536, force: true })
    await assertStoreHolds(store, 'f.bin', sha)
  })

  it("a new entry stopped after its directory was swapped for a link discards nothing through the link (another entry's chunk files stay)", async (t) => {
    const { dir, store } = await setup(t)
    await randomFile(join(dir, 'f.bin'), 40 * 65536)
    const entry = join(store.root, 'f.bin')
    const victim = join(store.root, 'other')
    await mkdir(victim)
    for (let i = 0; i < 3; i++) await writeFile(join(victim, chunkFileName(i)), `other ${i}`)
    const controller = new AbortController()
    let seen = 0
    await assert.rejects(
      splitFile(join(dir, 'f.bin'), {
        store,
        chunkSize: 65536,
        signal: controller.signal,
        onProgress: () => {
          if (++seen !== 20) return
          // Whoever may write the store moves the entry away and puts a link to another entry at its name.
          renameSync(entry, join(store.root, 'moved-away'))
          symlinkSync(victim, entry)
          controller.abort(new Error('stop'))
        },
      }),
      /stop/,
    )
    // Chunks in flight at the swap may land there (security.md: copies of the file, never its manifest); the
    // target's own chunk files are neither deleted nor rewritten.
    for (let i = 0; i < 3; i++)
      assert.equal(await readFile(join(victim, chunkFileName(i)), 'utf8'), `other ${i}`, `the target's chunk ${i}`)
  })
})
