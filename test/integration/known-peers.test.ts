import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { lstat, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import {
  ADDED_WINDOW_MS,
  isQueryableAddress,
  KNOWN_PEER_TTL_MS,
  KNOWN_PEERS_FILE,
  KnownPeers,
  knownPeersPath,
  MAX_KNOWN_PEERS,
  MAX_KNOWN_PEERS_FILE_BYTES,
  MAX_MISSES,
  readKnownPeers,
  serialize,
} from '../../src/core/discovery/known-peers.js'
import type { Cleanup } from '../helpers/cleanup.js'
import { tmpDir } from '../helpers/files.js'

/** The known-peers cache on real files: bounds, expiry, misses, merging, and files that are not what they should be. */

const DAY = 24 * 3600_000
const T0 = Date.parse('2026-11-30T10:00:00.000Z')

interface LogLine {
  level: number
  msg: string
  err?: string
  skipped?: number
}

function capture(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  return {
    log: pino(
      { level: 'info' },
      {
        write: (s: string) => {
          lines.push(JSON.parse(s))
        },
      },
    ),
    lines,
  }
}

async function cache(
  t: Cleanup,
  options: { now?: () => number; dir?: string; saveDelayMs?: number } = {},
): Promise<{ dir: string; path: string; known: KnownPeers; lines: ReturnType<typeof capture>['lines'] }> {
  const dir = options.dir ?? (await tmpDir(t))
  const { log, lines } = capture()
  const path = knownPeersPath(join(dir, 'content_dictionary.json'))
  const known = new KnownPeers(path, { log, now: options.now ?? (() => T0), saveDelayMs: options.saveDelayMs ?? 10 })
  await known.load()
  return { dir, path, known, lines }
}

const fileOf = async (path: string) =>
  JSON.parse(await readFile(path, 'utf8')) as { version: number; peers: Array<Record<string, unknown>> }

describe('known peers', () => {
  it('remembers who it heard, beside the dictionary, and finds them at the next start', async (t) => {
    const { dir, path, known } = await cache(t)
    assert.equal(path, join(dir, KNOWN_PEERS_FILE))
    known.heard('10.0.0.2', 47011, 'peer-0000002')
    known.heard('fe80::2%eth0', 47011)
    known.heard('fe80::3', 47011) // link-local without its interface: cannot be queried later
    await known.close()
    assert.equal((await stat(path)).mode & 0o777, 0o600, "its owner's alone")
    assert.deepEqual(await fileOf(path), {
      version: 1,
      peers: [
        {
          address: '10.0.0.2',
          port: 47011,
          peer: 'peer-0000002',
          lastSeen: '2026-11-30T10:00:00.000Z',
          misses: 0,
          addedAt: '2026-11-30T10:00:00.000Z',
        },
        {
          address: 'fe80::2%eth0',
          port: 47011,
          lastSeen: '2026-11-30T10:00:00.000Z',
          misses: 0,
          addedAt: '2026-11-30T10:00:00.000Z',
        },
      ],
    })
    const again = await cache(t, { dir })
    assert.deepEqual(
      again.known.toQuery().map((p) => p.address),
      ['10.0.0.2', 'fe80::2%eth0'],
    )
    assert.deepEqual(
      again.known.toQuery((a) => !a.includes(':')).map((p) => p.address),
      ['10.0.0.2'],
      'a family filter',
    )
  })

  it('an entry queried at three starts in a row without an answer is dropped; an answer resets the count', async (t) => {
    const { dir, known } = await cache(t)
    known.heard('10.0.0.2', 47011)
    known.heard('10.0.0.3', 47011)
    await known.close()
    for (let start = 1; start <= MAX_MISSES; start++) {
      const run = await cache(t, { dir })
      const asked = run.known
        .toQuery()
        .map((p) => p.address)
        .sort()
      assert.deepEqual(asked, ['10.0.0.2', '10.0.0.3'], `start ${start}`)
      run.known.heard('10.0.0.3', 47011) // only .3 answers
      await run.known.close()
    }
    const last = await cache(t, { dir })
    assert.deepEqual(
      last.known.list().map((p) => [p.address, p.misses]),
      [['10.0.0.3', 0]],
    )
  })

  it('entries expire; the oldest go first past the cap; one run adds at most half the cap', async (t) => {
    let now = T0
    const { dir, path, known } = await cache(t, { now: () => now })
    for (let i = 0; i < 3 * MAX_KNOWN_PEERS; i++) {
      now += 1000
      known.heard(`10.1.${i >> 8}.${i & 255}`, 47011)
    }
    await known.close()
    const first = await fileOf(path)
    assert.equal(first.peers.length, MAX_KNOWN_PEERS / 2, 'a flood of new sources in one run')
    const second = await cache(t, { dir, now: () => now })
    now += ADDED_WINDOW_MS
    for (let i = 0; i < MAX_KNOWN_PEERS; i++) {
      now += 1000
      second.known.heard(`10.2.0.${i}`, 47011)
    }
    await second.known.close()
    const list = (await fileOf(path)).peers.map((p) => p.address as string)
    assert.equal(list.length, MAX_KNOWN_PEERS)
    assert.ok(
      list.every((a) => a.startsWith('10.2.0.') || a.startsWith('10.1.0.')) &&
        list.filter((a) => a.startsWith('10.2.')).length === MAX_KNOWN_PEERS / 2,
    )
    now += KNOWN_PEER_TTL_MS + DAY
    assert.deepEqual((await cache(t, { dir, now: () => now })).known.list(), [], 'thirty days later, all expired')
  })

  it('a long-running process keeps learning: half the cap of new entries an hour, not half the cap for ever', async (t) => {
    let now = T0
    const { known } = await cache(t, { now: () => now })
    for (let i = 0; i < MAX_KNOWN_PEERS; i++) known.heard(`10.3.0.${i}`, 47011)
    assert.equal(known.list().length, MAX_KNOWN_PEERS / 2)
    now += ADDED_WINDOW_MS / 2
    known.heard('10.4.0.1', 47011)
    assert.equal(known.list().length, MAX_KNOWN_PEERS / 2, 'within the hour: refused')
    now += ADDED_WINDOW_MS
    known.heard('10.4.0.2', 47011)
    assert.ok(
      known.list().some((p) => p.address === '10.4.0.2'),
      'an hour later: remembered',
    )
    await known.close()
  })

  it('the hourly bound holds across processes: three runs of a stranger answering from many addresses keep the seeder (third attacker pass)', async (t) => {
    let now = T0
    const first = await cache(t, { now: () => now })
    first.known.heard('10.0.0.1', 47011, 'SEEDERID') // the seeder, remembered long ago
    await first.known.close()
    now += 2 * ADDED_WINDOW_MS
    for (let run = 0; run < 3; run++) {
      const { known } = await cache(t, { dir: first.dir, now: () => now })
      known.heard('10.0.0.1', 47011, 'SEEDERID')
      for (let i = 0; i < 70; i++) known.heard(`10.9.${run}.${i}`, 47011)
      await known.close()
      now += 60_000
    }
    const list = (await fileOf(first.path)).peers
    assert.ok(
      list.some((p) => p.address === '10.0.0.1'),
      'the seeder is still known',
    )
    assert.equal(list.length, 1 + MAX_KNOWN_PEERS / 2, 'half the cap of new entries in the hour, over all runs')
    assert.ok(list.every((p) => typeof p.addedAt === 'string'))
  })

  it('the hourly bound holds for processes running at once too (review: each counted only what it had read)', async (t) => {
    let now = T0
    const first = await cache(t, { now: () => now, saveDelayMs: 60_000 })
    for (let i = 0; i < MAX_KNOWN_PEERS; i++) {
      if (i === MAX_KNOWN_PEERS / 2) now += 2 * ADDED_WINDOW_MS // half the cap an hour
      first.known.heard(`10.0.${i}.1`, 47011)
    }
    await first.known.close()
    assert.equal((await fileOf(first.path)).peers.length, MAX_KNOWN_PEERS, 'a full file of good entries')
    now += 2 * ADDED_WINDOW_MS
    const runs = await Promise.all(
      [0, 1, 2].map(() => cache(t, { dir: first.dir, now: () => now, saveDelayMs: 60_000 })),
    )
    runs.forEach((run, r) => {
      for (let i = 0; i < 70; i++) run.known.heard(`10.8.${r}.${i}`, 47011)
    })
    for (const run of runs) await run.known.close()
    const list = (await fileOf(first.path)).peers.map((p) => p.address as string)
    assert.equal(list.filter((a) => a.startsWith('10.8.')).length, MAX_KNOWN_PEERS / 2, 'half the cap, over the three')
    assert.equal(list.filter((a) => a.startsWith('10.0.')).length, MAX_KNOWN_PEERS / 2, 'half of what was known stays')
  })

  it('two processes writing merge what each heard', async (t) => {
    // Writes one after another (the timers never fire here): two renames at the same instant may lose one side's new entry until its next sighting, as documented.
    const { dir, path, known: a } = await cache(t, { saveDelayMs: 60_000 })
    const { known: b } = await cache(t, { dir, saveDelayMs: 60_000 })
    a.heard('10.0.0.2', 47011)
    b.heard('10.0.0.3', 47011)
    await a.close()
    await b.close()
    assert.deepEqual((await fileOf(path)).peers.map((p) => p.address).sort(), ['10.0.0.2', '10.0.0.3'])
  })

  it('a peer heard again and again is not written again (a listener hears each peer every few seconds)', async (t) => {
    const { path, known } = await cache(t)
    known.heard('10.0.0.2', 47011)
    await new Promise((r) => setTimeout(r, 100))
    const before = await stat(path)
    for (let i = 0; i < 1000; i++) known.heard('10.0.0.2', 47011)
    await new Promise((r) => setTimeout(r, 100))
    await known.close()
    assert.equal((await stat(path)).ino, before.ino, 'not replaced')
  })

  it('invalid entries are skipped one by one: addresses that cannot be queried, bad ports and ids, times in the future', async (t) => {
    const dir = await tmpDir(t)
    const path = join(dir, KNOWN_PEERS_FILE)
    const seen = new Date(T0 - DAY).toISOString()
    const good = { address: '192.168.1.9', port: 47011, lastSeen: seen }
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        peers: [
          good,
          { ...good, address: '224.0.0.1' },
          { ...good, address: '255.255.255.255' },
          { ...good, address: '0.0.0.0' },
          { ...good, address: 'ff12::7032:7032%eth0' },
          { ...good, address: 'fe80::1' },
          { ...good, address: 'fe80::1%br_lan' },
          { ...good, address: 'fd00::1%eth0' },
          { ...good, address: 'example.org' },
          { ...good, address: '::' },
          { ...good, port: 0 },
          { ...good, port: 70000 },
          { ...good, port: '47011' },
          { ...good, peer: 'x' },
          { ...good, misses: 99 },
          { ...good, lastSeen: 'yesterday' },
          { ...good, lastSeen: new Date(T0 + 7 * DAY).toISOString() },
          'junk',
          null,
          { ...good, address: 'a'.repeat(100) },
          { ...good, address: 'fd00::9', port: 1, lastSeen: seen },
        ],
      }),
    )
    const { log, lines } = capture()
    const peers = await readKnownPeers(path, { now: T0, log })
    assert.deepEqual(
      peers.map((p) => `${p.address}:${p.port}`),
      ['192.168.1.9:47011', 'fd00::9:1'],
    )
    assert.equal(lines.find((l) => l.msg.startsWith('known-peers entries skipped'))?.skipped, 19)
    assert.ok(isQueryableAddress('127.0.0.1') && isQueryableAddress('::1') && isQueryableAddress('fe80::1%eth0'))
  })

  for (const [what, make] of [
    ['not JSON', (p: string) => writeFile(p, '{"version":1,"peers":[')],
    ['not UTF-8', (p: string) => writeFile(p, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
    ['another shape', (p: string) => writeFile(p, JSON.stringify({ version: 2, peers: [] }))],
    [
      'a list of a thousand entries',
      (p: string) => writeFile(p, JSON.stringify({ version: 1, peers: Array(1000).fill({}) })),
    ],
    ['huge', (p: string) => writeFile(p, ' '.repeat(MAX_KNOWN_PEERS_FILE_BYTES + 1))],
    ['a directory', (p: string) => import('node:fs/promises').then((fs) => fs.mkdir(p))],
    [
      'a FIFO',
      async (p: string) => {
        execFileSync('mkfifo', [p])
      },
    ],
  ] as const) {
    it(`a file that is ${what} is ignored with a warning, never a crash or a hang`, async (t) => {
      const dir = await tmpDir(t)
      const path = join(dir, KNOWN_PEERS_FILE)
      await make(path)
      const { log, lines } = capture()
      const started = performance.now()
      assert.deepEqual(await readKnownPeers(path, { now: T0, log }), [])
      assert.ok(performance.now() - started < 2000)
      assert.ok(
        lines.some((l) => l.level === 40 && l.msg.startsWith('known-peers file ignored')),
        JSON.stringify(lines),
      )
    })
  }

  it('a symlink is not followed, and the next write replaces the link, not what it points at', async (t) => {
    const dir = await tmpDir(t)
    const victim = join(dir, 'victim.json')
    const original = serialize([{ address: '10.9.9.9', port: 1, lastSeen: T0, misses: 0 }])
    await writeFile(victim, original)
    const path = join(dir, KNOWN_PEERS_FILE)
    await symlink(victim, path)
    const { log, lines } = capture()
    const known = new KnownPeers(path, { log, now: () => T0, saveDelayMs: 10 })
    assert.deepEqual(await known.load(), [])
    assert.match(lines.find((l) => l.level === 40)!.err!, /symbolic link/)
    known.heard('10.0.0.2', 47011)
    await known.close()
    assert.equal(await readFile(victim, 'utf8'), original)
    assert.ok((await lstat(path)).isFile())
    await assert.rejects(readlink(path))
  })

  it('a directory it cannot write to: a warning, and the run goes on', async (t) => {
    const dir = await tmpDir(t)
    const { log, lines } = capture()
    const known = new KnownPeers(join(dir, 'missing', KNOWN_PEERS_FILE), { log, now: () => T0, saveDelayMs: 10 })
    await known.load()
    known.heard('10.0.0.2', 47011)
    await known.close()
    assert.ok(lines.some((l) => l.msg === 'known-peers file not written'))
  })
})
