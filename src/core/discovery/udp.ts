import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { P2PError } from '../errors.js'
import type { Logger } from '../log.js'

/**
 * A UDP socket for discovery, bound and allowed to broadcast, or E_USAGE
 * naming the port (in use without address reuse, not permitted, …); a socket
 * that failed to bind is closed. With `reuseAddr`, several processes on one
 * host share the port and each hears every broadcast (announcers, listeners
 * and downloaders side by side). Socket errors after the bind are logged.
 */
export interface UdpBindOptions {
  port: number
  /** Default 0.0.0.0 (every interface). */
  address?: string | undefined
  reuseAddr: boolean
  onMessage: (message: Buffer, from: RemoteInfo) => void
  log: Logger
}

export async function bindUdp(options: UdpBindOptions): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reuseAddr: options.reuseAddr })
  socket.on('message', options.onMessage)
  socket.on('error', (err) => options.log.warn({ err: err.message }, 'discovery socket error'))
  socket.bind(options.port, options.address ?? '0.0.0.0')
  try {
    await Promise.race([
      once(socket, 'listening'),
      once(socket, 'error').then(([err]) => {
        throw err
      }),
    ])
  } catch (err) {
    socket.close()
    throw new P2PError(
      'E_USAGE',
      `cannot use UDP port ${options.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  socket.setBroadcast(true)
  return socket
}
