import assert from 'node:assert/strict'
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runBin } from '../helpers/cli.js'
import { sha256File } from '../helpers/files.js'
import { freeUdpPort, runDownload, seeded, split, startSeeder, storeArgs } from '../helpers/swarm.js'

/**
 * A seeder's --allow refusing a downloader, on real processes over loopback. The refused side saw only the
 * connection closed in the handshake (E_CLOSED) and, at the end of its --wait, E_NO_PEER ("busy or unreachable"):
 * nothing said its peer ID was the problem. Now the seeder says so inside the session (one E_AUTH error frame,
 * protocol.md §5 "Whom a peer accepts"), and a download that every holder refused ends E_AUTH (exit 4), naming the
 * seeder and what to do: at once when it vouches for the seeder (its own --allow, a private swarm), at --wait in an
 * open swarm (a stranger may refuse); a refusal never stops a download another peer can serve.
 */

const peerIdOf = async (dir: string): Promise<string> => {
  const r = await runBin('p2p', ['id', '--json', ...storeArgs(dir)])
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as { peerId: string }).peerId
}

/** The error line (the last on stderr), without its colours. */
const errorLine = (stderr: string): string =>
  stderr
    .trimEnd()
    .split('\n')
    .at(-1)!
    .replace(/\x1b\[[0-9;]*m/g, '')

/** Everything a refused download must say: E_AUTH alone, the seeder's address and peer ID, our peer ID, the fix. */
function assertRefused(stderr: string, seederPort: number, seederId: string, ourId: string): void {
  const line = errorLine(stderr)
  assert.match(line, /^Error: .* \[E_AUTH\]$/, stderr)
  assert.equal(line.match(/\[E_[A-Z_]+\]/g)?.length, 1, line)
  assert.ok(line.includes(`127.0.0.1:${seederPort}`), `names the seeder's address: ${line}`)
  assert.ok(line.includes(seederId), `names the seeder's peer ID: ${line}`)
  assert.ok(line.includes(ourId), `says our peer ID: ${line}`)
  assert.match(line, /not on its allow-list/, line)
  assert.match(line, /p2p id/, line)
  assert.match(line, /--allow/, line)
}

describe('a seeder whose --allow leaves the downloader out (real processes, loopback)', () => {
  it('the unlisted download ends E_AUTH (exit 4), naming the seeder and what to do: at --wait in an open swarm, well before it with --allow; a listed one is served', async (t) => {
    const { dir, id, sha } = await seeded(t, 300_000)
    const udp = await freeUdpPort()
    const ourId = await peerIdOf(join(dir, 'd'))
    const listedId = await peerIdOf(join(dir, 'listed'))
    const seeder = await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--allow', listedId] })
    let started = performance.now()
    const open = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '4'])
    let seconds = (performance.now() - started) / 1000
    assert.equal(open.code, 4, open.stderr + open.log)
    assert.equal(open.result?.code, 'E_AUTH', open.stdout)
    assertRefused(open.stderr, seeder.port, seeder.peerId, ourId)
    // Any stranger could have refused: the download waited its --wait for a holder that would serve.
    assert.ok(seconds >= 4, `ended after ${seconds.toFixed(1)} s of a 4 s --wait`)
    assert.match(await readFile(join(dir, 'd', 'logs', 'download.log'), 'utf8'), /"msg":"peer refused us/)
    started = performance.now()
    const vouched = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '30', '--allow', seeder.peerId])
    seconds = (performance.now() - started) / 1000
    assert.equal(vouched.code, 4, vouched.stderr + vouched.log)
    assertRefused(vouched.stderr, seeder.port, seeder.peerId, ourId)
    // The settle (2 s after the last refusal, nobody else to ask) and the command's own start and stop: not --wait.
    assert.ok(seconds < 12, `ended after ${seconds.toFixed(1)} s of a 30 s --wait`)

    const listed = await runDownload(join(dir, 'listed'), udp, ['--id', id, '--wait', '20'])
    assert.equal(listed.code, 0, listed.stderr + listed.log)
    assert.equal(await sha256File(listed.result?.path as string), sha)
    assert.deepEqual(listed.result?.refused, [])

    assert.equal(await seeder.serve.stop(), 0)
    const serveLog = await readFile(join(dir, 'seed', 'logs', 'serve.log'), 'utf8')
    assert.match(serveLog, /not on the allow-list.*"msg":"connection refused"/)
    assert.match(serveLog, /"refusedAuth":2[,}]/, 'each refused download dialled it once')
  })

  it('by name, and in a private swarm (the refusal comes where the swarm proof would): E_AUTH naming the seeder', async (t) => {
    const { dir } = await seeded(t, 100_000)
    const udp = await freeUdpPort()
    const secret = ['--secret', 'correct horse battery staple, refused']
    const ourId = await peerIdOf(join(dir, 'd'))
    const otherId = await peerIdOf(join(dir, 'other'))
    const seeder = await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--allow', otherId, ...secret] })
    const started = performance.now()
    const r = await runDownload(join(dir, 'd'), udp, ['f.bin', '--wait', '30', ...secret])
    const seconds = (performance.now() - started) / 1000
    assert.equal(r.code, 4, r.stderr + r.log)
    assertRefused(r.stderr, seeder.port, seeder.peerId, ourId)
    assert.doesNotMatch(r.stderr, /swarm secret/, 'not taken for a wrong secret')
    assert.ok(seconds < 12, `ended after ${seconds.toFixed(1)} s of a 30 s --wait`)
  })

  it('a download that already holds the manifest (resumed), vouching for the seeder, ends E_AUTH as soon, from its chunk phase', async (t) => {
    const { dir, id } = await seeded(t, 300_000)
    const udp = await freeUdpPort()
    const ourId = await peerIdOf(join(dir, 'd'))
    const otherId = await peerIdOf(join(dir, 'other'))
    // What an earlier run that got the manifest and no chunk leaves in the store.
    await mkdir(join(dir, 'd', 'chunks', 'f.bin'), { recursive: true })
    await copyFile(
      join(dir, 'seed', 'chunks', 'f.bin', 'manifest.json'),
      join(dir, 'd', 'chunks', 'f.bin', 'manifest.json'),
    )
    const seeder = await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--allow', otherId] })
    const started = performance.now()
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '30', '--allow', seeder.peerId])
    const seconds = (performance.now() - started) / 1000
    assert.equal(r.code, 4, r.stderr + r.log)
    assertRefused(r.stderr, seeder.port, seeder.peerId, ourId)
    assert.match(errorLine(r.stderr), /have no live peer: the peer that has them, /)
    assert.ok(seconds < 12, `ended after ${seconds.toFixed(1)} s of a 30 s --wait`)
  })

  it('two seeders, one refusing and one open: the download completes from the open one; the receipt lists the refusal', async (t) => {
    const { dir, file, id, sha } = await seeded(t, 2_000_000)
    await split(join(dir, 'open'), file, ['--chunk-size', '256KiB']) // the same id in a store of its own: its own peer ID
    const udp = await freeUdpPort()
    const otherId = await peerIdOf(join(dir, 'other'))
    const refusing = await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--allow', otherId] })
    const open = await startSeeder(t, join(dir, 'open'), udp)
    assert.notEqual(open.peerId, refusing.peerId)
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '20'])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
    const peers = r.result?.peers as Array<{ peer: string; bytes: number }>
    assert.ok(
      peers.some((p) => p.peer === `127.0.0.1:${open.port}` && p.bytes > 0),
      JSON.stringify(peers),
    )
    assert.ok(!peers.some((p) => p.peer === `127.0.0.1:${refusing.port}` && p.bytes > 0), JSON.stringify(peers))
    // The refusing seeder is not used again, and the receipt says it refused us (a closed connection said nothing).
    const refused = r.result?.refused as Array<{ key: string; peerId: string; refusedUs?: boolean }>
    assert.deepEqual(
      refused.map(({ key, peerId, refusedUs }) => ({ key, peerId, refusedUs })),
      [{ key: `127.0.0.1:${refusing.port}`, peerId: refusing.peerId, refusedUs: true }],
    )
  })
})
