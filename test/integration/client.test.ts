import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { hasCode } from '../../src/core/errors.js'
import { isCollateral, isViolation, PeerClient } from '../../src/core/transfer/client.js'
import type { Header } from '../../src/core/transfer/frame-header.js'
import { encodeFrame, encodeHeader, FrameDecoder } from '../../src/core/transfer/framing.js'
import { type Cleanup, onCleanup } from '../helpers/cleanup.js'

/**
 * PeerClient against a scripted peer on 127.0.0.1 (FAULTS.md case 38): every
 * response header is checked against the request it answers before a byte
 * of its body is allocated or read.
 */

const ID = 'ab'.repeat(32)
const MiB = 1024 * 1024

/** A peer that answers each request with `answer(header)`, and counts the body bytes it managed to send. */
async function scripted(t: Cleanup, answer: (header: Header, socket: Socket) => Buffer | undefined) {
  const sockets = new Set<Socket>()
  let closedByClient = 0
  const server = createServer((socket) => {
    sockets.add(socket)
    const decoder = new FrameDecoder({ maxHeaderBytes: 4096, maxBodyBytes: 0 })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      closedByClient++
    })
    socket.on('data', (d) => {
      for (const { header } of decoder.push(d)) {
        const out = answer(header, socket)
        if (out) socket.write(out)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  onCleanup(t, () => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  const allocations: number[] = []
  const client = await PeerClient.connect({
    host: '127.0.0.1',
    port,
    bodies: {
      take: (size) => {
        allocations.push(size)
        return Buffer.alloc(size)
      },
      give: () => undefined,
    },
  })
  onCleanup(t, () => client.close())
  return { client, allocations, closed: () => closedByClient }
}

const chunkHeader = (index: number, size: number) => encodeHeader({ type: 'chunk', id: ID, index, size })

describe('PeerClient checks responses against its requests', () => {
  it('a chunk declared at another size than the manifest says is refused unread: a violation; the other requests are collateral', async (t) => {
    const { client, allocations } = await scripted(t, (h) =>
      h.index === 0 ? Buffer.concat([chunkHeader(0, 60 * MiB), Buffer.alloc(MiB)]) : undefined,
    )
    const first = client.fetchChunk(ID, 0, 65536)
    const second = client.fetchChunk(ID, 1, 65536)
    await assert.rejects(
      first,
      (e) =>
        hasCode(e, 'E_BAD_FRAME') && isViolation(e) && /62914560 bytes for chunk 0, which has 65536/.test(e.message),
    )
    await assert.rejects(second, (e) => hasCode(e, 'E_CLOSED') && isCollateral(e) && !isViolation(e))
    assert.deepEqual(allocations, [], 'nothing was allocated for the claim')
    assert.ok(client.closed)
  })

  it('a shorter declared size is refused the same way, before its bytes are read', async (t) => {
    const { client, allocations } = await scripted(t, (h) =>
      Buffer.concat([chunkHeader(h.index as number, 100), Buffer.alloc(100)]),
    )
    await assert.rejects(client.fetchChunk(ID, 3, 4096), (e) => isViolation(e) && hasCode(e, 'E_BAD_FRAME'))
    assert.deepEqual(allocations, [])
  })

  it('the right size is read into a body from its source; a manifest over the asked cap is E_TOO_LARGE, unread', async (t) => {
    const { client, allocations } = await scripted(t, (h) =>
      h.type === 'chunk'
        ? encodeFrame({ type: 'chunk', id: ID, index: h.index }, Buffer.alloc(4096, 7))
        : Buffer.concat([encodeHeader({ type: 'manifest', id: ID, size: 2 * MiB }), Buffer.alloc(64 * 1024)]),
    )
    assert.equal((await client.fetchChunk(ID, 2, 4096)).length, 4096)
    assert.deepEqual(allocations, [4096])
    await assert.rejects(client.fetchManifest(ID, MiB), (e) => hasCode(e, 'E_TOO_LARGE') && isViolation(e))
    assert.deepEqual(allocations, [4096], 'manifests never take a body from the source')
  })

  it('a manifest body is assembled as it arrives, whatever size it declared', async (t) => {
    const body = Buffer.alloc(200_000, 3)
    const { client, allocations } = await scripted(t, () => encodeFrame({ type: 'manifest', id: ID }, body))
    assert.deepEqual(await client.fetchManifest(ID), body)
    assert.deepEqual(allocations, [])
  })

  const violations: Array<[string, (h: Header) => Buffer]> = [
    [
      'an error frame with a body',
      () =>
        Buffer.concat([
          encodeHeader({ type: 'error', code: 'E_NOT_FOUND', message: 'no', size: 60 * MiB }),
          Buffer.alloc(1000),
        ]),
    ],
    [
      "another chunk's index",
      (h) => encodeFrame({ type: 'chunk', id: ID, index: (h.index as number) + 1 }, Buffer.alloc(4096)),
    ],
    [
      "another file's id",
      (h) => encodeFrame({ type: 'chunk', id: 'cd'.repeat(32), index: h.index }, Buffer.alloc(4096)),
    ],
    ['a manifest for a chunk request', () => encodeFrame({ type: 'manifest', id: ID }, Buffer.alloc(10))],
    ['a length prefix of 0xFFFFFFFF', () => Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])],
    [
      'an error message longer than the header cap',
      () => encodeFrame({ type: 'error', code: 'E_NOT_FOUND', message: 'x'.repeat(MiB) }),
    ],
    ['a header that is not a response', () => encodeFrame({ hello: 'world' })],
  ]
  for (const [what, answer] of violations) {
    it(`${what}: a violation, connection closed, nothing allocated`, async (t) => {
      const { client, allocations } = await scripted(t, answer)
      await assert.rejects(client.fetchChunk(ID, 0, 4096), (e) => isViolation(e))
      assert.ok(client.closed)
      assert.deepEqual(allocations, [])
    })
  }

  it('an error frame rejects only its request; the connection stays usable', async (t) => {
    const { client } = await scripted(t, (h) =>
      h.index === 0
        ? encodeFrame({ type: 'error', code: 'E_NOT_FOUND', message: 'no' })
        : encodeFrame({ type: 'chunk', id: ID, index: h.index }, Buffer.alloc(4096)),
    )
    await assert.rejects(client.fetchChunk(ID, 0, 4096), (e) => hasCode(e, 'E_NOT_FOUND') && !isViolation(e))
    assert.equal((await client.fetchChunk(ID, 1, 4096)).length, 4096)
    assert.equal(client.closed, false)
  })

  it('a response nobody asked for is a violation', async (t) => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined)
      socket.write(encodeFrame({ type: 'chunk', id: ID, index: 0 }, Buffer.alloc(10)))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    onCleanup(t, () => {
      server.close()
    })
    const client = await PeerClient.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port })
    const err = await new Promise((resolve) => client.onClose(resolve))
    assert.ok(isViolation(err), String(err))
  })

  it('an error frame before any request (E_BUSY on accept) closes the connection with that code, no violation', async (t) => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined)
      socket.end(encodeFrame({ type: 'error', code: 'E_BUSY', message: 'full' }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    onCleanup(t, () => {
      server.close()
    })
    const client = await PeerClient.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port })
    const err = await new Promise((resolve) => client.onClose(resolve))
    assert.ok(hasCode(err, 'E_BUSY') && !isViolation(err), String(err))
  })

  it('an already aborted signal rejects the connect, plain or encrypted, and never throws', async () => {
    const stop = new AbortController()
    stop.abort(new Error('stopped before it began'))
    for (const secure of [undefined, { keyPair: NoiseSecretStream.keyPair() }]) {
      let connecting: Promise<PeerClient> | undefined
      assert.doesNotThrow(
        () => {
          connecting = PeerClient.connect({ host: '127.0.0.1', port: 9, ...(secure ? { secure } : {}) }, stop.signal)
        },
        `${secure ? 'encrypted' : 'plain'}: no synchronous throw`,
      )
      await assert.rejects(connecting!, /stopped before it began/)
    }
  })
})
