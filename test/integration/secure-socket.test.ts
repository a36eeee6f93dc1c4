import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import NoiseSecretStream, { type KeyPair } from '@hyperswarm/secret-stream'
import { hasCode, type P2PError } from '../../src/core/errors.js'
import { type SecureOptions, SecureSocket } from '../../src/core/trust/secure-socket.js'
import { deriveSwarmKeys } from '../../src/core/trust/swarm-secret.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'

/**
 * The encrypted transport on real sockets (127.0.0.1): round trips, interop
 * with a stock NoiseSecretStream both ways, and what a stranger, a man in
 * the middle, a slow or truncated handshake, or a peer of the other
 * transport gets.
 */

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const server = NoiseSecretStream.keyPair()
const client = NoiseSecretStream.keyPair()

async function listen(t: Cleanup, onSocket: (socket: Socket) => void): Promise<{ port: number; server: Server }> {
  const sockets = new Set<Socket>()
  const srv = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    onSocket(socket)
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()))
  onCleanup(t, () => {
    for (const s of sockets) s.destroy()
    srv.close()
  })
  return { port: (srv.address() as AddressInfo).port, server: srv }
}

/** A server of ours that accepts with `options` and hands each ready connection to `onReady`. */
async function secureServer(
  t: Cleanup,
  options: Partial<SecureOptions>,
  onReady: (s: SecureSocket) => void = () => undefined,
) {
  const accepted: SecureSocket[] = []
  const { port } = await listen(t, (socket) => {
    const s = SecureSocket.accept(socket, { keyPair: server, ...options })
    accepted.push(s)
    s.ready.then(
      () => onReady(s),
      () => undefined,
    )
  })
  return { port, accepted }
}

function dial(t: Cleanup, port: number, options: Partial<SecureOptions> = {}): SecureSocket {
  const s = SecureSocket.connect({ host: '127.0.0.1', port }, { keyPair: client, ...options })
  onCleanup(t, () => s.destroy())
  return s
}

/** Everything `s` delivers until `bytes` have arrived. */
function receive(s: SecureSocket | NoiseSecretStream, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let got = 0
  return new Promise((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      parts.push(Buffer.from(d))
      got += d.byteLength
      if (got >= bytes) resolve(Buffer.concat(parts))
    })
    s.on('close', (err?: Error) => reject(err ?? new Error('closed')))
    s.on('error', reject)
  })
}

const closeError = (s: SecureSocket): Promise<P2PError> =>
  s.closedWith ? Promise.resolve(s.closedWith) : once(s, 'close').then(([err]) => err as P2PError)

describe('encrypted transport', { timeout: 20_000 }, () => {
  it('carries bytes both ways; both ends see the other key and the same handshake hash', async (t) => {
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const { port, accepted } = await secureServer(t, {}, (s) => s.on('data', (d: Buffer) => s.write(Buffer.from(d))))
    const c = dial(t, port, { expectedRemoteKey: server.publicKey })
    const echoed = receive(c, data.byteLength)
    for (let at = 0; at < data.byteLength; at += 200_000) c.write(data.subarray(at, at + 200_000))
    assert.equal(sha(await echoed), sha(data))
    assert.deepEqual(c.remotePublicKey, server.publicKey)
    assert.deepEqual(accepted[0]!.remotePublicKey, client.publicKey)
    assert.deepEqual(c.handshakeHash, accepted[0]!.handshakeHash)
  })

  it('reads records straight into a window the reader offers', async (t) => {
    const data = randomBytes(1024 * 1024)
    const { port } = await secureServer(t, {}, (s) => s.write(data))
    const c = dial(t, port)
    const body = Buffer.alloc(data.byteLength)
    let filled = 0
    const done = new Promise<void>((resolve) =>
      c.setReader({
        window: () => body.subarray(filled),
        filled: (n) => {
          filled += n
          if (filled === body.byteLength) resolve()
        },
      }),
    )
    c.on('data', () => assert.fail('nothing should bypass the window'))
    await done
    assert.equal(sha(body), sha(data))
  })

  it('speaks with a stock NoiseSecretStream, both ways', async (t) => {
    const data = randomBytes(600_000)
    // Stock client → our server.
    const ours = await secureServer(t, {}, (s) => s.on('data', (d: Buffer) => s.write(Buffer.from(d))))
    const raw = connect(ours.port, '127.0.0.1')
    const stock = new NoiseSecretStream(true, raw, { keyPair: client })
    onCleanup(t, () => {
      stock.destroy()
    })
    const back = receive(stock, data.byteLength)
    // secret-stream writes one record per write: at most our record limit each.
    for (let at = 0; at < data.byteLength; at += 65536) stock.write(data.subarray(at, at + 65536))
    assert.equal(sha(await back), sha(data))
    assert.deepEqual(stock.remotePublicKey, server.publicKey)
    // Our client → stock server.
    const { port } = await listen(t, (socket) => {
      const s = new NoiseSecretStream(false, socket, { keyPair: server })
      s.on('error', () => undefined)
      s.on('data', (d: Buffer) => s.write(d))
    })
    const c = dial(t, port, { expectedRemoteKey: server.publicKey })
    const echoed = receive(c, data.byteLength)
    c.write(data)
    assert.equal(sha(await echoed), sha(data))
  })

  it('a flipped ciphertext byte closes the connection with E_TAMPERED', async (t) => {
    const data = randomBytes(512 * 1024)
    const { port: target } = await secureServer(t, {}, (s) => s.write(data))
    // A man in the middle that flips one bit of the server's 20,000th byte.
    const { port } = await listen(t, (inbound) => {
      const outbound = connect(target, '127.0.0.1')
      outbound.on('error', () => inbound.destroy())
      inbound.on('close', () => outbound.destroy())
      outbound.on('close', () => inbound.destroy())
      let seen = 0
      inbound.pipe(outbound)
      outbound.on('data', (d: Buffer) => {
        if (seen <= 20_000 && seen + d.byteLength > 20_000) d[20_000 - seen]! ^= 0x10
        seen += d.byteLength
        inbound.write(d)
      })
    })
    const c = dial(t, port)
    await c.ready
    const err = await closeError(c)
    assert.equal(err.code, 'E_TAMPERED', err.message)
  })

  it('a peer that is not the one announced is refused with E_AUTH (key mismatch)', async (t) => {
    const { port } = await secureServer(t, {})
    const c = dial(t, port, { expectedRemoteKey: NoiseSecretStream.keyPair().publicKey })
    await assert.rejects(c.ready, (err: P2PError) => err.code === 'E_AUTH' && err.details?.keyMismatch === true)
  })

  it('a dialler offering several announced keys reaches the one among them that answers; none of them answering is a key mismatch', async (t) => {
    const { port } = await secureServer(t, {})
    const others = [NoiseSecretStream.keyPair().publicKey, NoiseSecretStream.keyPair().publicKey]
    const one = dial(t, port, { expectedRemoteKey: others[0]!, expectedRemoteKeys: [others[0]!, server.publicKey] })
    await one.ready
    assert.ok(one.remotePublicKey?.equals(server.publicKey))
    const none = dial(t, port, { expectedRemoteKey: others[0]!, expectedRemoteKeys: others })
    await assert.rejects(none.ready, (err: P2PError) => err.code === 'E_AUTH' && err.details?.keyMismatch === true)
  })

  it('a dialler that reaches another key than announced stops before its third handshake message: its peer ID never goes there (third attacker pass)', async (t) => {
    const { port, accepted } = await secureServer(t, {})
    const c = dial(t, port, { expectedRemoteKey: NoiseSecretStream.keyPair().publicKey })
    await assert.rejects(c.ready, (err: P2PError) => err.code === 'E_AUTH' && err.details?.keyMismatch === true)
    const answering = await waitFor(() => accepted[0])
    await answering.ready.catch(() => undefined) // ends when the dialler's close reaches it
    assert.equal(answering.remotePublicKey, undefined, "the answering side never learned the dialler's key")
    // The control: a dialler expecting this very key completes, and the other side learns it.
    const ok = dial(t, port, { expectedRemoteKey: server.publicKey })
    await ok.ready
    const second = await waitFor(() => accepted[1])
    await second.ready
    assert.ok(second.remotePublicKey?.equals(client.publicKey))
  })

  it('an allow-list refuses an unlisted peer on either side', async (t) => {
    const { port, accepted } = await secureServer(t, { allow: (key) => key.equals(server.publicKey) })
    const c = dial(t, port)
    const [clientErr, serverErr] = await Promise.all([
      closeError(c),
      once(accepted.length ? accepted[0]! : await waitFor(() => accepted[0]), 'close').then(([e]) => e as P2PError),
    ])
    assert.equal(serverErr.code, 'E_AUTH')
    assert.equal(serverErr.details?.notAllowed, true)
    assert.ok(hasCode(clientErr), String(clientErr))
    const refused = dial(t, (await secureServer(t, {})).port, { allow: () => false })
    await assert.rejects(refused.ready, (err: P2PError) => err.code === 'E_AUTH')
  })

  it('a private swarm: members prove the secret; a stranger without it or with another gets E_AUTH', async (t) => {
    const keys = deriveSwarmKeys(randomBytes(32))
    const { port, accepted } = await secureServer(t, { proofKey: keys.proofKey }, (s) =>
      s.on('data', (d: Buffer) => s.write(Buffer.from(d))),
    )
    const member = dial(t, port, { proofKey: keys.proofKey })
    const echoed = receive(member, 5)
    member.write(Buffer.from('hello'))
    assert.equal((await echoed).toString(), 'hello')
    for (const proofKey of [undefined, deriveSwarmKeys(randomBytes(32)).proofKey]) {
      const stranger = dial(t, port, proofKey ? { proofKey } : {})
      stranger.write(Buffer.from(JSON.stringify({ type: 'manifest', id: 'ab'.repeat(32) })))
      const got: Buffer[] = []
      stranger.on('data', (d: Buffer) => got.push(Buffer.from(d)))
      const serverSide = await waitFor(() =>
        accepted.at(-1) !== member && accepted.length >= 2 ? accepted.at(-1) : undefined,
      )
      const err = await closeError(serverSide)
      assert.equal(err.code, 'E_AUTH', err.message)
      assert.equal(err.details?.proof, true)
      await closeError(stranger)
      assert.equal(got.length, 0, 'a stranger receives nothing')
      accepted.length = 1
    }
  })

  it('a slow handshake (one byte at a time) is cut at the deadline; a truncated one just closes', async (t) => {
    const { port, accepted } = await secureServer(t, { handshakeTimeoutMs: 300 })
    const slow = connect(port, '127.0.0.1')
    slow.on('error', () => undefined)
    onCleanup(t, () => {
      slow.destroy()
    })
    const first = Buffer.concat([Buffer.of(32, 0, 0), randomBytes(32)])
    let i = 0
    const drip = setInterval(() => {
      if (i < first.length && !slow.destroyed) slow.write(first.subarray(i, ++i))
    }, 50)
    onCleanup(t, () => clearInterval(drip))
    const started = Date.now()
    const err = await closeError(await waitFor(() => accepted[0]))
    assert.equal(err.code, 'E_AUTH')
    assert.match(err.message, /within 300 ms/)
    assert.ok(Date.now() - started < 3000)
    const cut = connect(port, '127.0.0.1')
    cut.on('error', () => undefined)
    cut.end(first.subarray(0, 10))
    const err2 = await closeError(await waitFor(() => accepted[1]))
    assert.ok(['E_CLOSED', 'E_AUTH'].includes(err2.code), err2.code)
  })

  it('a handshake message claiming 16 MiB is refused before anything is allocated for it', async (t) => {
    const { port, accepted } = await secureServer(t, {})
    const raw = connect(port, '127.0.0.1')
    raw.on('error', () => undefined)
    onCleanup(t, () => {
      raw.destroy()
    })
    raw.write(Buffer.of(255, 255, 255, 1, 2, 3))
    const err = await closeError(await waitFor(() => accepted[0]))
    assert.equal(err.code, 'E_AUTH')
  })

  it('a record over the limit closes the connection with E_TOO_LARGE', async (t) => {
    const { port, accepted } = await secureServer(t, {})
    const stock = new NoiseSecretStream(true, connect(port, '127.0.0.1'), { keyPair: client })
    stock.on('error', () => undefined)
    onCleanup(t, () => {
      stock.destroy()
    })
    await stock.opened
    stock.write(Buffer.alloc(200_000))
    const err = await closeError(await waitFor(() => accepted[0]))
    assert.equal(err.code, 'E_TOO_LARGE')
  })

  it('the plain protocol meets a clear E_AUTH on both sides; a plain client gets a plain error frame', async (t) => {
    const refusal = Buffer.from('\0\0\0\x02{}')
    const { port, accepted } = await secureServer(t, { plainRefusal: refusal })
    const plain = connect(port, '127.0.0.1')
    plain.on('error', () => undefined)
    const answer = receiveRaw(plain)
    plain.write(Buffer.concat([Buffer.of(0, 0, 0, 2), Buffer.from('{}')]))
    assert.deepEqual(await answer, refusal)
    const err = await closeError(await waitFor(() => accepted[0]))
    assert.equal(err.code, 'E_AUTH')
    // Our client against a plain server (which answers a 4-byte length it cannot accept with an error frame).
    const { port: plainPort } = await listen(t, (socket) => socket.once('data', () => socket.end(refusal)))
    const c = dial(t, plainPort)
    await assert.rejects(c.ready, (e: P2PError) => e.code === 'E_AUTH' && /plain/.test(e.message))
  })
})

function receiveRaw(socket: Socket): Promise<Buffer> {
  const parts: Buffer[] = []
  socket.on('data', (d: Buffer) => parts.push(d))
  return once(socket, 'close').then(() => Buffer.concat(parts))
}

async function waitFor<T>(get: () => T | undefined): Promise<T> {
  for (;;) {
    const value = get()
    if (value !== undefined) return value
    await new Promise((resolve) => setImmediate(resolve))
  }
}

export type { KeyPair }
