import type { Socket } from 'node:net'

/** How the TCP socket under an encrypted connection (secure-socket.ts) is let go. */

/**
 * How long the accepting side's refusal (the plain one to a client of the other transport, or the sealed one to a
 * key its allow-list leaves out) may take to leave, as a busy server's E_BUSY may (transfer/refusals.ts).
 */
const REFUSAL_GRACE_MS = 1000

/**
 * The socket of a connection that failed: destroyed at once, unless the accepting side's refusal is leaving
 * (`refusing`: the handshake ended the socket with it, secure-handshake.ts). Its second to leave is a deadline,
 * not an idle timeout: bytes trickled in meanwhile (read and dropped) must not keep the descriptor, nor the
 * connection's slot in the server's caps, which it holds until the socket closes.
 */
export function closeFailedSocket(socket: Socket, refusing: boolean): void {
  if (!refusing) socket.destroy()
  else {
    const deadline = setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS)
    socket.once('close', () => clearTimeout(deadline))
  }
}

/**
 * Have the kernel drop what it holds unsent for the socket (a TCP reset) rather than keep it orphaned. Not once the
 * socket's end was asked for (a refusal's): libuv cannot reset a socket while its shutdown is pending (Node then
 * closes nothing, and the descriptor is lost), so that one is left to be closed as destroy() does.
 */
export function resetUnlessEnding(socket: Socket): void {
  if (!socket.writableEnded) socket.resetAndDestroy()
}
