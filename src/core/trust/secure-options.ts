import type { SealBuffers } from './seal-buffers.js'
import type { HandshakeOptions } from './secure-handshake.js'

/** What an encrypted connection (secure-socket.ts) is given, and what its reader may offer. */

export interface SecureOptions extends HandshakeOptions {
  /** Where sealed output is assembled (shared by a process's connections). */
  buffers?: SealBuffers
  /** A record begun must be whole within this (a server's frame deadline: record-deadline.ts); else E_TIMEOUT. */
  recordTimeoutMs?: number
}

export interface SecureReader {
  /** Where the next `bytes` of plaintext may go directly (a body being assembled), if anywhere. */
  window?: () => Buffer | undefined
  /** `n` plaintext bytes were decrypted straight into window(). */
  filled?: (n: number) => void
}
