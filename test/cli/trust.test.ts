import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { chmod, mkdir, readdir, readFile, symlink, truncate } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { hasCode } from '../../src/core/errors.js'
import { PeerClient } from '../../src/core/transfer/client.js'
import { generateSecret } from '../../src/core/trust/swarm-secret.js'
import { onCleanup } from '../helpers/cleanup.js'
import { runBin } from '../helpers/cli.js'
import { fakeAnnouncer, fakeId } from '../helpers/fake-announcer.js'
import { sha256File, tmpDir } from '../helpers/files.js'
import { BROADCAST, freeUdpPort, runDownload, seeded, startDaemon, startSeeder, storeArgs } from '../helpers/swarm.js'

/**
 * Issue 16 on real processes over loopback: the encrypted transport by
 * default, peer IDs checked, private swarms, allow-lists, and what a stranger
 * or a man in the middle gets.
 */

const peerIdOf = async (dir: string): Promise<string> => {
  const r = await runBin('p2p', ['id', '--json', ...storeArgs(dir)])
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as { peerId: string }).peerId
}

const logOf = (dir: string, command: string): Promise<string> =>
  readFile(join(dir, 'logs', `${command}.log`), 'utf8').catch(() => '')

/** Resolves once `dir`'s `command` log has a line matching `pattern` (bounded). */
async function logLine(dir: string, command: string, pattern: RegExp, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms
  for (;;) {
    const line = (await logOf(dir, command)).split('\n').find((l) => pattern.test(l))
    if (line) return line
    if (Date.now() > deadline) throw new Error(`no ${pattern} in ${command}.log within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('encrypted transport (the default) between real processes', () => {
  it('two encrypted peers transfer a file byte-identical; the receipt names the peer ID the seeder holds', async (t) => {
    const { dir, id, sha } = await seeded(t)
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '20'])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(r.result?.sha256, sha)
    assert.equal(await sha256File(r.result?.path as string), sha)
    const peers = r.result?.peers as Array<{ peerId?: string }>
    assert.deepEqual(
      peers.map((p) => p.peerId),
      [await peerIdOf(join(dir, 'seed'))],
    )
    assert.deepEqual(r.result?.refused, [])
  })

  it('plain and encrypted peers do not mix: each side says so with E_AUTH, nothing is served', async (t) => {
    const { dir, id } = await seeded(t, 10_000)
    const encrypted = startDaemon(t, 'p2p-serve', [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--json',
      ...storeArgs(join(dir, 'seed')),
    ])
    const plain = startDaemon(t, 'p2p-serve', [
      ...['--host', '127.0.0.1', '--port', '0', '--json', '--transport', 'plain'],
      ...storeArgs(join(dir, 'seed')),
    ])
    const { port: encryptedPort } = (await encrypted.firstLine) as { port: number }
    const { port: plainPort } = (await plain.firstLine) as { port: number }
    const plainClient = await PeerClient.connect({ host: '127.0.0.1', port: encryptedPort })
    onCleanup(t, () => plainClient.close())
    await assert.rejects(
      plainClient.fetchManifest(id),
      (err) => hasCode(err, 'E_AUTH') && /encrypted transport/.test(err.message),
    )
    await assert.rejects(
      PeerClient.connect({ host: '127.0.0.1', port: plainPort, secure: { keyPair: NoiseSecretStream.keyPair() } }),
      (err) => hasCode(err, 'E_AUTH') && /plain protocol/.test(err.message),
    )
  })

  it("a peer announcing someone else's peer ID is refused: the key it holds is not the one announced (E_AUTH, counted, logged)", async (t) => {
    const { dir, id } = await seeded(t, 500_000)
    const udp = await freeUdpPort()
    const victim = await peerIdOf(join(dir, 'victim'))
    // Its own server (its own key) announced under the victim's peer ID.
    await startSeeder(t, join(dir, 'seed'), udp, {
      extra: [],
      announceExtra: ['--identity', join(dir, 'victim', 'chunks', '.p2p', 'identity.key')],
    })
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '3'])
    assert.notEqual(r.code, 0)
    const refused = await logLine(join(dir, 'd'), 'download', /"msg":"peer refused"/)
    assert.match(refused, /another key than any peer ID announced for it/)
    assert.match(refused, new RegExp(victim))
  })

  it("a forged announcement giving a seeder's address another peer ID costs one refused connection, not the seeder", async (t) => {
    const { dir, id, sha } = await seeded(t, 500_000)
    const udp = await freeUdpPort()
    const victim = await peerIdOf(join(dir, 'victim'))
    const seed = join(dir, 'seed')
    const serve = startDaemon(t, 'p2p-serve', ['--host', '127.0.0.1', '--port', '0', '--json', ...storeArgs(seed)])
    const { port } = (await serve.firstLine) as { port: number }
    // What a stranger on the LAN sends from the seeder's address (the attacker's finding 1): its port, its file,
    // another peer ID. Until the download has been refused once, nothing else is announced.
    const file = { id, name: 'f.bin', size: 500_000, chunks: 2, have: 'all' }
    const forged = Buffer.from(
      JSON.stringify({ v: 1, type: 'announce', peer: victim, transport: 'noise', port, files: [file] }),
    )
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    socket.setBroadcast(true)
    const forging = setInterval(() => socket.send(forged, udp, BROADCAST), 100)
    onCleanup(t, () => {
      clearInterval(forging)
      socket.close()
    })
    const download = runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '30'])
    const refused = await logLine(join(dir, 'd'), 'download', /"msg":"peer refused"/)
    assert.match(refused, new RegExp(victim))
    clearInterval(forging)
    const announceArgs = ['--json', '--port', String(port), '--udp-port', String(udp), '--broadcast', BROADCAST]
    startDaemon(t, 'p2p-announce', [...announceArgs, '--interval', '0.5', ...storeArgs(seed)])
    const r = await download
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.equal(await sha256File(r.result?.path as string), sha)
    assert.deepEqual(
      ((r.result?.refused ?? []) as Array<{ peerId?: string }>).map((p) => p.peerId),
      [victim],
      'the forged pair is the one refused',
    )
  })

  it('an identity file others can read, or a truncated one, is refused with E_IDENTITY (exit 2), never replaced', async (t) => {
    const dir = await tmpDir(t)
    const identity = join(dir, 'identity.key')
    const made = await runBin('p2p', ['id', '--json', '--identity', identity, '--logs-dir', join(dir, 'logs')])
    assert.equal(made.code, 0, made.stderr)
    const original = await readFile(identity, 'utf8')
    await chmod(identity, 0o644)
    const open = await runBin('p2p-serve', ['--identity', identity, '--port', '0', ...storeArgs(dir)])
    assert.match(open.stderr, /\[E_IDENTITY\]/)
    assert.notEqual(open.code, 0)
    await chmod(identity, 0o600)
    await truncate(identity, original.length >> 1)
    const cut = await runBin('p2p', ['id', '--identity', identity, '--logs-dir', join(dir, 'logs')])
    assert.match(cut.stderr, /\[E_IDENTITY\]/)
    assert.notEqual(cut.code, 0)
    assert.equal((await readFile(identity, 'utf8')).length, original.length >> 1)
  })

  it("the store's own identity is never made nor read through a link at <store>/.p2p (E_IO, nothing written there); a path of the user's own is printed escaped", async (t) => {
    const dir = await tmpDir(t)
    const store = join(dir, 'chunks')
    await mkdir(join(dir, 'elsewhere'))
    await mkdir(store)
    await symlink('../elsewhere', join(store, '.p2p'))
    const linked = await runBin('p2p', ['id', '--json', '--chunks-dir', store, '--logs-dir', join(dir, 'logs')])
    assert.equal(JSON.parse(linked.stdout).code, 'E_IO', linked.stdout)
    assert.deepEqual(await readdir(join(dir, 'elsewhere')), [], 'no identity made through the link')
    const odd = join(dir, 'k\x1b]0;TITLE\x07')
    await mkdir(odd)
    const own = await runBin('p2p', ['id', '--identity', join(odd, 'id.key'), '--logs-dir', join(dir, 'logs')])
    assert.equal(own.code, 0, own.stderr)
    assert.doesNotMatch(own.stdout, /[\x1b\x07]/, 'no raw escape sequence on the terminal')
    assert.match(own.stdout, /identity .*k.*TITLE/)
    // And the mode its trust settings give, as --json says it (a UX audit: --help lists them, the output ignored them).
    assert.match(own.stdout, /\n {2}encrypted \(Noise\), open swarm/)
    const secret = (await runBin('p2p', ['secret'])).stdout.trim()
    const inSwarm = await runBin('p2p', [
      'id',
      '--identity',
      join(odd, 'id.key'),
      '--secret',
      secret,
      '--logs-dir',
      join(dir, 'logs'),
    ])
    assert.match(inSwarm.stdout, /private swarm/, inSwarm.stdout)
  })

  it('a man in the middle flipping one byte: that connection is closed (E_TAMPERED), no altered byte is used, the file arrives whole', async (t) => {
    const { dir, id, sha } = await seeded(t)
    const udp = await freeUdpPort()
    let flipped = false
    const proxy = createServer((client: Socket) => {
      const server = connect({ host: '127.0.0.1', port: seederPort })
      let seen = 0
      server.on('data', (bytes: Buffer) => {
        // One byte, once, well into the first connection's encrypted stream (inside a chunk's record).
        if (!flipped && seen + bytes.length > 100_000) {
          bytes[100_000 - seen]! ^= 0x20
          flipped = true
        }
        seen += bytes.length
        client.write(bytes)
      })
      client.on('data', (bytes: Buffer) => server.write(bytes))
      for (const [a, b] of [
        [client, server],
        [server, client],
      ] as const) {
        a.on('error', () => b.destroy())
        a.on('close', () => b.destroy())
      }
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()))
    onCleanup(t, () => new Promise<void>((resolve) => proxy.close(() => resolve())))
    const proxyPort = (proxy.address() as AddressInfo).port
    let seederPort = 0
    const seeder = await startSeeder(t, join(dir, 'seed'), udp, { announcePort: proxyPort })
    seederPort = seeder.port
    const r = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '20'])
    assert.equal(r.code, 0, r.stderr + r.log)
    assert.ok(flipped)
    assert.equal(await sha256File(r.result?.path as string), sha)
    const log = await logOf(join(dir, 'd'), 'download')
    assert.match(log, /E_TAMPERED/)
    assert.doesNotMatch(log, /failed SHA-256/) // the altered record never reached the chunk check
  })
})

describe('private swarms', () => {
  it('members exchange a file byte-identical; a stranger sees nothing, fails with E_AUTH in its log, and the seeder keeps serving members', async (t) => {
    const { dir, id, sha } = await seeded(t)
    const udp = await freeUdpPort()
    const secret = generateSecret()
    const seeder = await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--secret', secret] })
    const member = await runDownload(join(dir, 'm1'), udp, ['f.bin', '--wait', '20', '--secret', secret])
    assert.equal(member.code, 0, member.stderr + member.log)
    assert.equal(member.result?.sha256, sha)
    // The stranger's listener: it hears the swarm's datagrams (and says so), records nothing of them.
    const listen = startDaemon(t, 'p2p-listen', [
      ...['--json', '--udp-port', String(udp), '--broadcast', '127.255.255.255'],
      ...['--dictionary', join(dir, 'stranger', 'dictionary.json'), '--logs-dir', join(dir, 'stranger', 'logs')],
    ])
    await listen.firstLine
    await logLine(join(dir, 'stranger'), 'listen', /sealed datagrams of a private swarm/)
    await listen.stop()
    // Its lines (not a terminal) say so too, though nothing changes in its dictionary (it said "nothing announced").
    const plain = startDaemon(t, 'p2p-listen', [
      ...['--udp-port', String(udp), '--broadcast', '127.255.255.255'],
      ...['--dictionary', join(dir, 'plain', 'dictionary.json'), '--logs-dir', join(dir, 'plain', 'logs')],
    ])
    for (let i = 0; i < 100 && !/of a private swarm heard: give its secret/.test(plain.stdout()); i++)
      await new Promise((resolve) => setTimeout(resolve, 100))
    assert.match(plain.stdout(), /sealed datagrams? of a private swarm heard: give its secret/)
    await plain.stop()
    // With another secret, a mistyped one: it said "nothing announced" and no more.
    const mistyped = startDaemon(t, 'p2p-listen', [
      ...['--udp-port', String(udp), '--broadcast', '127.255.255.255', '--secret', generateSecret()],
      ...['--dictionary', join(dir, 'wrong', 'dictionary.json'), '--logs-dir', join(dir, 'wrong', 'logs')],
    ])
    const unopened = /sealed datagrams? our secret does not open heard: another private swarm, or a mistyped secret/
    for (let i = 0; i < 100 && !unopened.test(mistyped.stdout()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.match(mistyped.stdout(), unopened)
    await mistyped.stop()
    // Nothing of this swarm's: its file's id. (Not "no file at all": another test's plain announcements may share
    // a random port with this one now and then, and those a stranger rightly records.)
    const dictionary = await readFile(join(dir, 'stranger', 'dictionary.json'), 'utf8')
    assert.ok(!dictionary.includes(id), dictionary)
    // The stranger's download, by name and by id: nothing found (exit 3), E_AUTH in its log.
    for (const [sub, args] of [
      ['s1', ['f.bin']],
      ['s2', ['--id', id]],
    ] as const) {
      const stranger = await runDownload(join(dir, sub), udp, [...args, '--wait', '2'])
      assert.ok(stranger.code === 3 || stranger.code === 4, `exit ${stranger.code}: ${stranger.stderr}`)
      assert.match(await logOf(join(dir, sub), 'download'), /E_AUTH/)
    }
    // By name, a member who forgot the secret is told a private swarm was heard (it was told of firewalls before).
    const forgot = await runDownload(join(dir, 's3'), udp, ['f.bin', '--wait', '6'])
    assert.equal(forgot.code, 3, forgot.stderr)
    assert.match(forgot.stderr, /sealed datagrams? of a private swarm came: give its secret/)
    // Another secret: the same.
    const wrong = await runDownload(join(dir, 'w'), udp, ['f.bin', '--wait', '6', '--secret', generateSecret()])
    assert.equal(wrong.code, 3, wrong.stderr)
    assert.match(await logOf(join(dir, 'w'), 'download'), /our secret does not open/)
    assert.match(wrong.stderr, /our secret does not open came: another private swarm, or a mistyped secret/)
    // A stranger who knows the address: refused before any frame (E_AUTH on the seeder), nothing served.
    const client = PeerClient.connect({
      host: '127.0.0.1',
      port: seeder.port,
      secure: { keyPair: NoiseSecretStream.keyPair() },
    }).then((c) => c.fetchManifest(id))
    await assert.rejects(client)
    // And the seeder still serves members.
    const again = await runDownload(join(dir, 'm2'), udp, ['f.bin', '--wait', '20', '--secret', secret])
    assert.equal(again.code, 0, again.stderr + again.log)
    assert.equal(again.result?.sha256, sha)
    assert.equal(await seeder.serve.stop(), 0) // its log is whole once it has stopped
    const serveLog = await logOf(join(dir, 'seed'), 'serve')
    assert.match(serveLog, /did not prove it holds the swarm secret.*"msg":"connection refused"/)
    assert.match(serveLog, /"refusedAuth":[1-9]/)
  })
})

describe('allow-lists', () => {
  it('an unlisted peer is refused by the server and ignored by the downloader; a listed one is served', async (t) => {
    const { dir, id, sha } = await seeded(t, 500_000)
    const udp = await freeUdpPort()
    const downloader = await peerIdOf(join(dir, 'd'))
    const someoneElse = await peerIdOf(join(dir, 'x'))
    const seeder = await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--allow', someoneElse] })
    const seederId = await peerIdOf(join(dir, 'seed'))
    const refused = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '3'])
    assert.notEqual(refused.code, 0)
    const ignoring = await runDownload(join(dir, 'x'), udp, ['--id', id, '--wait', '2', '--allow', downloader])
    assert.match(await logOf(join(dir, 'x'), 'download'), /not on the allow-list","msg":"peer not used"/)
    // Said as what it is (it asked whether a seeder was running): E_AUTH, exit 4, naming the seeder's peer ID.
    assert.equal(ignoring.code, 4, ignoring.stderr)
    assert.match(ignoring.stderr, new RegExp(`the peer that has it is not on the allow-list \\(${seederId}\\)`))
    // By name too: it said "no peer announced" of the name the seeder announced.
    const byName = await runDownload(join(dir, 'x'), udp, ['f.bin', '--wait', '2', '--allow', downloader])
    assert.equal(byName.code, 4, byName.stderr)
    assert.match(
      byName.stderr,
      new RegExp(`no peer on the allow-list announced "f.bin" within 2 s; one that is not on it did \\(${seederId}\\)`),
    )
    await seeder.serve.stop()
    await seeder.announce.stop()
    assert.match(await logOf(join(dir, 'seed'), 'serve'), /not on the allow-list.*"msg":"connection refused"/)
    await startSeeder(t, join(dir, 'seed'), udp, { extra: ['--allow', downloader] })
    const served = await runDownload(join(dir, 'd'), udp, ['--id', id, '--wait', '20', '--allow', seederId])
    assert.equal(served.code, 0, served.stderr + served.log)
    assert.equal(served.result?.sha256, sha)
  })

  it("a download by name with --allow decides the name among listed peers: an unlisted stranger's same-named file is no second file (third attacker pass)", async (t) => {
    const { dir, sha } = await seeded(t, 500_000)
    const udp = await freeUdpPort()
    await startSeeder(t, join(dir, 'seed'), udp)
    const seederId = await peerIdOf(join(dir, 'seed'))
    const strangerId = await peerIdOf(join(dir, 'stranger'))
    const stranger = await fakeAnnouncer(t, udp)
    const other = [{ id: fakeId(9), name: 'f.bin', size: 500_000 }]
    const timer = setInterval(() => void stranger.announce(strangerId, 7999, other).catch(() => undefined), 200)
    onCleanup(t, () => clearInterval(timer))
    const open = await runDownload(join(dir, 'open'), udp, ['f.bin', '--wait', '10'])
    assert.equal(
      open.code,
      2,
      `without --allow the stranger's file makes the name ambiguous (the check below can fail): ${open.stderr}`,
    )
    const listed = await runDownload(join(dir, 'd'), udp, ['f.bin', '--wait', '20', '--allow', seederId])
    assert.equal(listed.code, 0, listed.stderr + listed.log)
    assert.equal(await sha256File(listed.result?.path as string), sha)
  })
})
