import { connect, type Socket } from 'node:net'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../constants.js'
import type { DhtSession } from '../dht/session.js'
import { hasCode, P2PError } from '../errors.js'
import { formatPeerId } from '../trust/peer-id.js'
import { type SecureOptions, SecureSocket } from '../trust/secure-socket.js'
import { refusalInRecord } from './allow-refusal.js'

/**
 * How a client's connection is made (client.ts): a plain TCP connect, an
 * encrypted one (the connect, the handshake and the checks of the peer, all
 * within one deadline), or a session the DHT made. A connect clears its
 * deadline and its abort listener once it settles, and fails with a typed
 * error (E_CONNECT, E_TIMEOUT, or the abort's reason). Once the connection
 * is ready, `attach` builds the client on it in the same call, so no byte
 * can arrive between the two; from then on the client owns the connection.
 */

/** What making the connection needs (the rest of PeerClientOptions is the client's). */
export interface ConnectOptions {
  host: string
  port: number
  connectTimeoutMs?: number
  /**
   * The encrypted transport (docs/protocol.md §5): the connection is ready once the Noise handshake (and
   * the swarm proof, the check of the peer's key) passed; connectTimeoutMs covers all of it. Absent: plain.
   */
  secure?: SecureOptions
}

/** Where a connection's bytes go once its client is there: a plain socket's reads, a SecureSocket's records. */
export interface ClientReader {
  /** Where the next bytes may go straight (the body being assembled), if anywhere. */
  window(): Buffer | undefined
  /** `n` bytes went straight into window(). */
  filled(n: number): void
  /** Bytes that went anywhere else (a view: valid only during this call). */
  data(view: Buffer): void
}

/** An encrypted connection, or a DHT session: ready, with what arrived before the client listened. */
type Attach<T> = (session: SecureSocket | DhtSession, early: Buffer[]) => T

/** Headers and the first bytes of a body land here; the rest of a body is read straight into it. */
const READ_BUFFER_BYTES = 16 * 1024

/** A plain TCP connection; once connected, `attach` gets the socket and `readInto`, which routes its reads. */
export function connectPlain<T>(
  options: ConnectOptions,
  signal: AbortSignal | undefined,
  attach: (socket: Socket, readInto: (reader: ClientReader) => void) => T,
): Promise<T> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted()
    // Reads never land in fresh memory: a fresh buffer per read (Node's default) costs a page fault
    // per 4 KiB on this kind of VM, and was the single largest cost of a download (docs/benchmarks.md).
    // Body bytes are read straight into the (pooled) body being assembled, so the kernel's copy
    // is the only one; headers, and the start of a body read along with its header, go through one
    // reused buffer, from which the decoder copies what it keeps.
    let reader: ClientReader | undefined
    const readInto = (r: ClientReader): void => {
      reader = r
    }
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
    const socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: () => reader?.window() ?? readBuffer,
        callback: (bytes, into) => {
          if (into === readBuffer) reader?.data(readBuffer.subarray(0, bytes))
          else reader?.filled(bytes)
          return true
        },
      },
    })
    const done = (err?: P2PError): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('error', onError)
      if (err) {
        socket.destroy()
        reject(err)
      } else resolve(attach(socket, readInto))
    }
    const onError = (err: NodeJS.ErrnoException): void =>
      done(new P2PError('E_CONNECT', `cannot connect to ${options.host}:${options.port}: ${err.code ?? err.message}`))
    const onAbort = (): void => done(signal!.reason as P2PError)
    const timer = setTimeout(
      () => done(new P2PError('E_TIMEOUT', `connecting to ${options.host}:${options.port} took over ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.once('error', onError)
    socket.once('connect', () => done())
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Connect, run the handshake (and proof), then check the peer's key, all within connectTimeoutMs. */
export function connectSecure<T>(
  options: ConnectOptions,
  secureOptions: SecureOptions,
  signal: AbortSignal | undefined,
  attach: Attach<T>,
): Promise<T> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const where = `${options.host}:${options.port}`
  // A rejection, as on the plain path, never a throw: callers clean up in the promise's handlers.
  if (signal?.aborted) return Promise.reject(signal.reason)
  const secure = SecureSocket.connect(
    { host: options.host, port: options.port },
    // A server's refusal of our key where its swarm proof was due (a private swarm's) is said as what it is.
    { ...secureOptions, refusal: (plain, key) => refusalInRecord(plain, where, formatPeerId(key)) },
  )
  let connected = false
  let connectError: string | undefined
  secure.socket.once('connect', () => {
    connected = true
  })
  secure.socket.once('error', (err: NodeJS.ErrnoException) => {
    connectError ??= err.code ?? err.message
  })
  const onAbort = (): void =>
    secure.destroy(
      hasCode(signal!.reason) ? signal!.reason : new P2PError('E_CLOSED', `connecting to ${where} abandoned`),
    )
  signal?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(
    () =>
      secure.destroy(
        new P2PError('E_TIMEOUT', `connecting to ${where} took over ${timeoutMs} ms (with the handshake)`),
      ),
    timeoutMs,
  )
  return whenReady(secure, timer, () => signal?.removeEventListener('abort', onAbort), attach).catch(
    (err: P2PError) => {
      if (!connected && err.code === 'E_CLOSED')
        throw new P2PError('E_CONNECT', `cannot connect to ${where}: ${connectError ?? err.message}`)
      throw err
    },
  )
}

/** A session made through the DHT (download/dht-peers.ts dials it, within its own deadline), once ready. */
export function sessionReady<T>(session: Promise<DhtSession>, attach: Attach<T>): Promise<T> {
  return session.then((s) => whenReady(s, undefined, () => undefined, attach))
}

/** `attach` once the session is ready, with what arrived before the client listened (a busy server's E_BUSY). */
function whenReady<T>(
  secure: SecureSocket | DhtSession,
  timer: NodeJS.Timeout | undefined,
  cleanup: () => void,
  attach: Attach<T>,
): Promise<T> {
  const early: Buffer[] = []
  const onEarly = (view: Buffer): void => {
    early.push(Buffer.from(view))
  }
  secure.on('data', onEarly)
  const settled = (): void => {
    clearTimeout(timer)
    cleanup()
    secure.off('data', onEarly)
  }
  return secure.ready.then(
    () => {
      settled()
      return attach(secure, early)
    },
    (err: P2PError) => {
      settled()
      throw err
    },
  )
}
