import type { Server } from 'node:net'
import { P2PError } from '../errors.js'

/** A listen's failures that are the settings' (a usability pass found ENOTFOUND reported as an I/O error). */
const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'is another p2p-serve running? use --port',
  ENOTFOUND: 'no such host: give --host an address of this machine',
  EADDRNOTAVAIL: 'not an address of this machine: check --host',
  EACCES: 'a port under 1024 needs privileges: use --port',
}

/**
 * Listens on `host:port`. A failure that is the user's choice of port or address is E_USAGE, with what to change;
 * any other is E_IO.
 */
export function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const hint = LISTEN_HINTS[err.code ?? '']
      reject(
        new P2PError(
          hint ? 'E_USAGE' : 'E_IO',
          `cannot listen on ${host}:${port}: ${err.code ?? err.message}${hint ? ` (${hint})` : ''}`,
        ),
      )
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}
