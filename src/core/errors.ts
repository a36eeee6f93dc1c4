/**
 * One error class for the whole toolkit. Every failure carries a stable `code`
 * that travels unchanged on the wire (error frames), in the logs and, through
 * EXIT_CODES, in the process exit status. Tests assert codes, never messages.
 * The table is documented in docs/errors.md; keep the two in step.
 */

export const ERROR_CODES = [
  'E_USAGE', // bad command line or config value
  'E_BAD_NAME', // a file name that is not one safe path component
  'E_EXISTS', // refusing to overwrite something different
  'E_AMBIGUOUS', // a name matches several ids; pick one with --id
  'E_NOT_FOUND', // no such file / chunk (locally, or on a peer)
  'E_NO_PEER', // no live peer can supply some chunk
  'E_CHECKSUM', // bytes did not match their SHA-256
  'E_BAD_MANIFEST', // a manifest that is not canonical, consistent, or does not match its id
  'E_BAD_REQUEST', // a well-framed request with wrong fields
  'E_BAD_FRAME', // bytes on the TCP stream that are not a frame
  'E_BAD_DATAGRAM', // a UDP datagram that is not a valid message
  'E_TOO_LARGE', // something over a configured limit
  'E_BUSY', // a server at its connection limit
  'E_TIMEOUT', // a deadline expired
  'E_CLOSED', // the connection closed under a pending request
  'E_CONNECT', // could not connect to a peer
  'E_NO_SPACE', // disk full (ENOSPC)
  'E_IO', // any other filesystem failure (permissions, read-only, …)
  'E_LOCKED', // another process holds the lock
  'E_INTERRUPTED', // SIGINT/SIGTERM; the work can be resumed
  'E_AUTH', // a peer failed authentication: handshake, swarm secret, announced key, allow-list
  'E_TAMPERED', // an encrypted message failed its authentication tag: altered in transit
  'E_IDENTITY', // our own identity file is missing its key, malformed or readable by others
  'E_INTERNAL', // a bug: please report it
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

/** Process exit status for each code (0 is success). */
export const EXIT_CODES: Record<ErrorCode, number> = {
  E_USAGE: 2,
  E_BAD_NAME: 2,
  E_EXISTS: 2,
  E_AMBIGUOUS: 2,
  E_NOT_FOUND: 3,
  E_NO_PEER: 4,
  E_CHECKSUM: 5,
  E_BAD_MANIFEST: 5,
  E_BAD_REQUEST: 1,
  E_BAD_FRAME: 1,
  E_BAD_DATAGRAM: 1,
  E_TOO_LARGE: 1,
  E_BUSY: 4,
  E_TIMEOUT: 4,
  E_CLOSED: 4,
  E_CONNECT: 4,
  E_NO_SPACE: 6,
  E_IO: 6,
  E_LOCKED: 7,
  E_INTERRUPTED: 130,
  E_AUTH: 4,
  E_TAMPERED: 4,
  E_IDENTITY: 2,
  E_INTERNAL: 1,
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value)
}

export class P2PError extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'P2PError'
    this.code = code
    this.details = details
  }

  get exitCode(): number {
    return EXIT_CODES[this.code]
  }
}

/** True when `err` is a P2PError, optionally with the given code. */
export function hasCode(err: unknown, code?: ErrorCode): err is P2PError {
  return err instanceof P2PError && (code === undefined || err.code === code)
}

/**
 * Map a Node filesystem error to a P2PError with a message a user can act on.
 * `what` names the thing being done, e.g. "writing chunk 12 of movie.mkv".
 */
export function fromFsError(err: unknown, what: string): P2PError {
  if (err instanceof P2PError) return err
  const e = err as NodeJS.ErrnoException & { dest?: string }
  // The path once: `what` often names it already.
  const path = e?.path && !what.includes(e.path) ? ` (${e.path})` : ''
  switch (e?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new P2PError(
        'E_NO_SPACE',
        `disk full while ${what}${path}: free some space and run again`,
        { errno: e.code },
        { cause: err },
      )
    case 'ENOENT':
      return new P2PError('E_NOT_FOUND', `not found while ${what}${path}`, { errno: e.code }, { cause: err })
    case 'EACCES':
    case 'EPERM':
      // A read as much as a write: a file the user may not read, or a directory they may not write.
      return new P2PError(
        'E_IO',
        `permission denied while ${what}${path}: check the permissions of that path and of the directories above it`,
        { errno: e.code },
        { cause: err },
      )
    case 'EROFS':
      return new P2PError('E_IO', `read-only filesystem while ${what}${path}`, { errno: e.code }, { cause: err })
    case 'EISDIR':
      // A rename's directory in the way is its destination, not the file being renamed.
      return new P2PError(
        'E_IO',
        `a directory is in the way while ${what}${e.dest ? ` (${e.dest})` : path}: move it, a file goes there`,
        { errno: e.code },
        { cause: err },
      )
    case 'ENOTDIR':
      return new P2PError(
        'E_IO',
        `not a directory while ${what}${path}: a file is where a directory should be`,
        { errno: e.code },
        { cause: err },
      )
    case 'EMFILE':
    case 'ENFILE':
      return new P2PError(
        'E_IO',
        `too many open files while ${what}: raise the limit (ulimit -n)`,
        { errno: e.code },
        { cause: err },
      )
    default:
      return new P2PError('E_IO', `${e?.message ?? String(err)} while ${what}`, { errno: e?.code }, { cause: err })
  }
}
