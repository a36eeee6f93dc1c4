import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import NoiseSecretStream, { type KeyPair } from '@hyperswarm/secret-stream'
import { Bitfield } from '../../src/core/bitfield.js'
import { type DownloadReceipt, download } from '../../src/core/download/downloader.js'
import type { LivePeer, PeerFinder } from '../../src/core/download/job.js'
import { hasCode } from '../../src/core/errors.js'
import { ChunkStore } from '../../src/core/store.js'
import { encodeFrame, FrameDecoder } from '../../src/core/transfer/framing.js'
import { errorHeader } from '../../src/core/transfer/messages.js'
import { AllowList } from '../../src/core/trust/allow-list.js'
import { identityFromSeed } from '../../src/core/trust/identity.js'
import { formatPeerId } from '../../src/core/trust/peer-id.js'
import { SecureSocket } from '../../src/core/trust/secure-socket.js'
import type { Trust } from '../../src/core/trust/trust.js'
import { CHUNKS, type Seeded, seeded, encryptedServer as server } from '../helpers/allow-servers.js'
import { onCleanup } from '../helpers/cleanup.js'
import { sha256File } from '../helpers/files.js'

/**
 * What a download makes of peers that refuse its key (download(), real sockets on loopback, one process): a
 * refusal, honest or hostile, drops only the peer that made it; the download ends on refusals (E_AUTH, naming
 * them) only when no other peer is left to ask: soon among the peers it vouches for (its --allow, a private swarm),
 * at --wait in an open swarm, where a stranger may refuse.
 */

/** The trust a download runs with: the encrypted transport, its identity `keyPair`'s, an allow-list of `allow`'s. */
const trustOf = (keyPair: KeyPair, allow?: Buffer[]): Trust => ({
  transport: 'encrypted',
  identity: {
    ...identityFromSeed(randomBytes(32)),
    keyPair,
    publicKey: keyPair.publicKey,
    peerId: formatPeerId(keyPair.publicKey),
  },
  swarm: undefined,
  allow: allow && new AllowList(allow),
  handshakeTimeoutMs: 5000,
})

/** Peers as a finder lists them (every chunk claimed), from `list()` each time it is asked. */
function finder(list: () => Array<{ port: number; peerId: string }>): PeerFinder {
  return {
    peers: () =>
      list().map(
        (p): LivePeer => ({
          address: '127.0.0.1',
          port: p.port,
          peerId: p.peerId,
          transport: 'noise',
          have: Bitfield.full(CHUNKS),
        }),
      ),
    waitForChange: (ms, signal) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, ms)
        const abort = (): void => {
          clearTimeout(timer)
          resolve()
        }
        signal?.addEventListener('abort', abort, { once: true })
      }),
  }
}

function fetchFile(
  s: Seeded,
  keyPair: KeyPair,
  peers: PeerFinder,
  waitMs = 20_000,
  allow?: Buffer[],
): Promise<DownloadReceipt> {
  return download({
    id: s.id,
    store: new ChunkStore(join(s.dir, `d-${randomBytes(4).toString('hex')}`)),
    downloadsDir: join(s.dir, 'downloads', randomBytes(4).toString('hex')),
    peers,
    trust: trustOf(keyPair, allow),
    limits: { waitMs },
  })
}

describe('what a download makes of refusals (download(), loopback)', () => {
  it('a refusing seeder and an open one: byte-identical from the open one; the refusing one dialled once and listed as refusing us', async (t) => {
    const s = await seeded(t)
    const refusing = await server(t, s.store, NoiseSecretStream.keyPair(), () => false)
    const open = await server(t, s.store, NoiseSecretStream.keyPair())
    const receipt = await fetchFile(
      s,
      NoiseSecretStream.keyPair(),
      finder(() => [refusing, open]),
    )
    assert.equal(receipt.sha256, s.sha)
    assert.equal(await sha256File(receipt.path), s.sha)
    assert.deepEqual(
      receipt.refused.map((r) => [r.key, r.peerId, r.refusedUs]),
      [[`127.0.0.1:${refusing.port}`, refusing.peerId, true]],
    )
    assert.equal(refusing.server.stats.refusedAuth, 1, 'not dialled again')
  })

  it('every peer refuses: E_AUTH naming it, a settle (2 s) after the refusal when we vouch for it, else at --wait; beside a peer that lacks the file, at --wait', async (t) => {
    const s = await seeded(t)
    const refusingKeys = NoiseSecretStream.keyPair()
    const refusing = await server(t, s.store, refusingKeys, () => false)
    const ours = NoiseSecretStream.keyPair()
    // In an open swarm any stranger may announce the file and refuse: the download waits its --wait for another.
    let started = performance.now()
    const open = await fetchFile(
      s,
      ours,
      finder(() => [refusing]),
      3000,
    ).then(
      () => assert.fail('downloaded'),
      (e: unknown) => e,
    )
    assert.ok(hasCode(open, 'E_AUTH'), String(open))
    assert.ok(performance.now() - started >= 2900, 'at --wait')
    // Listed in our --allow (we dial no one else), the refusal is why: a settle after it, not --wait.
    started = performance.now()
    const alone = await fetchFile(
      s,
      ours,
      finder(() => [refusing]),
      20_000,
      [refusingKeys.publicKey],
    ).then(
      () => assert.fail('downloaded'),
      (e: unknown) => e,
    )
    const ms = performance.now() - started
    assert.ok(hasCode(alone, 'E_AUTH'), String(alone))
    assert.ok(alone.message.includes(`127.0.0.1:${refusing.port} (peer ID ${refusing.peerId})`), alone.message)
    assert.ok(alone.message.includes(formatPeerId(ours.publicKey)), 'says our peer ID')
    // The settle, then the race's next turn (≤ 250 ms); slack for a loaded machine, far below --wait.
    assert.ok(ms > 1800 && ms < 10_000, `ended after ${ms.toFixed(0)} ms of a 20 s wait`)

    // A peer that says "not found" is another peer still to ask: the race runs to its deadline, then names the refusal.
    const empty = new ChunkStore(join(s.dir, 'empty'))
    await empty.init()
    const lacking = await server(t, empty, NoiseSecretStream.keyPair())
    started = performance.now()
    const beside = await fetchFile(
      s,
      ours,
      finder(() => [refusing, lacking]),
      3000,
    ).then(
      () => assert.fail('downloaded'),
      (e: unknown) => e,
    )
    assert.ok(hasCode(beside, 'E_AUTH'), String(beside))
    assert.ok(performance.now() - started >= 2900, 'at --wait')
  })

  it('a refusing stranger heard first, the open seeder 3 s later (past the settle) in an open swarm: the download completes', async (t) => {
    const s = await seeded(t)
    const refusing = await server(t, s.store, NoiseSecretStream.keyPair(), () => false)
    const open = await server(t, s.store, NoiseSecretStream.keyPair())
    const started = performance.now()
    const receipt = await fetchFile(
      s,
      NoiseSecretStream.keyPair(),
      // Any host can announce the file and refuse: the first version ended this download E_AUTH 2 s in.
      finder(() => (performance.now() - started < 3000 ? [refusing] : [refusing, open])),
    )
    assert.equal(await sha256File(receipt.path), s.sha)
    // The refusal was read as one (before: a connection closed in the handshake, nothing listed).
    assert.deepEqual(
      receipt.refused.map((r) => [r.key, r.refusedUs]),
      [[`127.0.0.1:${refusing.port}`, true]],
    )
  })

  it('a hostile peer that accepted us and then answers E_AUTH (at once, or to chunk requests after the manifest) is dropped alone', async (t) => {
    const s = await seeded(t)
    const open = await server(t, s.store, NoiseSecretStream.keyPair())
    const manifest = (await s.store.get(s.id))!.manifestBytes
    const hostile = async (when: 'at once' | 'to chunks') => {
      const keyPair = NoiseSecretStream.keyPair()
      const sockets = new Set<Socket>()
      let chunksAsked = 0
      const srv = createServer((socket) => {
        sockets.add(socket)
        socket.on('error', () => undefined)
        const secure = SecureSocket.accept(socket, { keyPair })
        secure.on('close', () => undefined)
        const decoder = new FrameDecoder({ maxHeaderBytes: 16 * 1024, maxBodyBytes: 0 })
        const refusal = encodeFrame(errorHeader('E_AUTH', 'you are not allowed (a lie)'))
        void secure.ready.then(() => {
          if (when === 'at once') secure.write(refusal) // and keeps the connection open
        })
        secure.on('data', (d: Buffer) => {
          for (const frame of decoder.push(d)) {
            if (frame.header.type === 'chunk') chunksAsked++
            secure.write(
              frame.header.type === 'manifest' ? encodeFrame({ type: 'manifest', id: s.id }, manifest) : refusal,
            )
          }
        })
      })
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()))
      onCleanup(t, () => {
        for (const socket of sockets) socket.destroy()
        srv.close()
      })
      return {
        port: (srv.address() as AddressInfo).port,
        peerId: formatPeerId(keyPair.publicKey),
        chunksAsked: () => chunksAsked,
      }
    }
    for (const when of ['at once', 'to chunks'] as const) {
      const liar = await hostile(when)
      const receipt = await fetchFile(
        s,
        NoiseSecretStream.keyPair(),
        finder(() => [liar, open]),
      )
      assert.equal(await sha256File(receipt.path), s.sha, when)
      assert.deepEqual(
        receipt.refused.map((r) => [r.key, r.refusedUs]),
        [[`127.0.0.1:${liar.port}`, true]],
        when,
      )
      const fromLiar = receipt.peers.find((p) => p.key === `127.0.0.1:${liar.port}`)
      assert.equal(fromLiar?.bytes ?? 0, 0, when)
      if (when === 'to chunks') assert.ok(liar.chunksAsked() > 0, 'its refusal answered a chunk request')
    }
  })
})
