import type { Socket } from 'node:net'

/** How the TCP socket under an encrypted connection (secure-socket.ts) is let go. */

/**
 * How long the accepting side's refusal (the plain one to a client of the other transport, or the sealed one to a
 * key its allow-list leaves out) may take to leave, as a busy server's E_BUSY may (transfer/refusals.ts).
 */
const REFUSAL_GRACE_MS = 1000

/**
 * What a refused peer may still send while its refusal leaves (read, to see its close, and dropped): many times what
 * an honest client sends before it reads the answer (its stream header, its proof, a few requests: under 2 KiB).
 */
const READ_AFTER_REFUSAL_BYTES = 16 * 1024

/**
 * The socket of a connection that failed: destroyed at once, unless the accepting side's refusal is leaving
 * (`refusing`: the handshake ended the socket with it, secure-handshake.ts). Its second to leave is a deadline,
 * not an idle timeout: bytes trickled in meanwhile must not keep the descriptor, nor the connection's slot in the
 * server's caps, which it holds until the socket closes. They are read only to see the peer close; past
 * READ_AFTER_REFUSAL_BYTES the socket is destroyed (an unlisted peer flooding after its refusal had the server read
 * ~400 MB a connection for that second, where the handshake's close had cut it in 50 ms).
 */
export function closeFailedSocket(socket: Socket, refusing: boolean): void {
  if (!refusing) {
    socket.destroy()
    return
  }
  const deadline = setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS)
  socket.once('close', () => clearTimeout(deadline))
  let read = 0
  socket.on('data', (bytes: Buffer) => {
    read += bytes.byteLength
    if (read > READ_AFTER_REFUSAL_BYTES) socket.destroy()
  })
}

/**
 * Have the kernel drop what it holds unsent for the socket (a TCP reset) rather than keep it orphaned. Not once the
 * socket's end was asked for (a refusal's): libuv cannot reset a socket while its shutdown is pending (Node then
 * closes nothing, and the descriptor is lost), so that one is left to be closed as destroy() does.
 */
export function resetUnlessEnding(socket: Socket): void {
  if (!socket.writableEnded) socket.resetAndDestroy()
}
