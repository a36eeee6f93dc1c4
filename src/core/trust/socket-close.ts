import type { Socket } from 'node:net'

/** How the TCP socket under an encrypted connection (secure-socket.ts) is let go. */

/** How long the answer to a plain client (it spoke the plain transport to an encrypted peer) may take to leave. */
const PLAIN_REFUSAL_GRACE_MS = 1000

/**
 * The socket of a connection that failed: destroyed at once, unless its answer to a plain client is leaving
 * (`refusingPlain`: the accepting side ended it with its plain refusal, secure-handshake.ts). The plain refusal's
 * second to leave is a deadline, not an idle timeout: bytes trickled in meanwhile must not keep the descriptor (it
 * no longer counts against any connection limit).
 */
export function closeFailedSocket(socket: Socket, refusingPlain: boolean): void {
  if (!refusingPlain) socket.destroy()
  else {
    const deadline = setTimeout(() => socket.destroy(), PLAIN_REFUSAL_GRACE_MS)
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
