import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs'
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net'
import {
  DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SERVER_BUFFER_BYTES,
} from '../constants.js'
import { P2PError } from '../errors.js'
import { BufferPool } from '../buffer-pool.js'
import { hashThreads } from '../hashing.js'
import { type Logger, silentLogger } from '../log.js'
import { type Manifest, chunkLength } from '../manifest.js'
import { PackedHaveCache, packedDataPath } from '../packed.js'
import { type ChunkStore, stampOf } from '../store.js'
import { ByteBudget } from './budget.js'
import { ServerConnection } from './server-connection.js'

/**
 * p2p-serve's engine: answers manifest and chunk requests for every file in
 * the chunk store, looked up by id and integer index only (a request never
 * names a path). Files split or downloaded while it runs are found by a
 * rescan on a miss (at most one every `rescanMs`); chunk files (and a
 * downloaded entry's packed `data.have`) are looked at per request, so chunks
 * a running download writes are served at once.
 *
 * Every chunk's SHA-256 is checked against the manifest before it is first
 * served, and again whenever its file changes (inode, size, mtime or ctime);
 * a chunk that fails is refused with E_NOT_FOUND and logged. Chunk files are
 * opened with O_NOFOLLOW: a symlink in the store never leads outside it.
 */

export interface ServerLimits {
  maxHeaderBytes: number
  maxConnections: number
  idleTimeoutMs: number
  /** A frame begun must be complete within this long (slowloris). */
  frameTimeoutMs: number
  maxInFlight: number
  /** Chunk bytes held in memory at once across all connections. */
  maxBufferedBytes: number
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_S * 1000,
  frameTimeoutMs: 10_000,
  maxInFlight: DEFAULT_MAX_IN_FLIGHT,
  maxBufferedBytes: DEFAULT_SERVER_BUFFER_BYTES,
}

export interface ChunkServerOptions {
  store: ChunkStore
  host?: string
  port?: number
  limits?: Partial<ServerLimits>
  log?: Logger
  rescanMs?: number
}

interface CatalogEntry {
  dir: string
  manifest: Manifest
  manifestBytes: Buffer
}

export interface ServerStats {
  connections: number
  refusedBusy: number
  requests: number
  chunksServed: number
  bytesServed: number
  errors: Record<string, number>
  corruptChunks: number
  /** Chunks hashed before serving (not already known good by their file's stamp). */
  hashedChunks: number
}

const MAX_VERIFIED_ENTRIES = 1_000_000

/** Reads up to this size are done synchronously (a page-cache copy of 256 KiB takes ~25 µs). */
const SYNC_READ_BYTES = 256 * 1024

/** A read-only descriptor, or undefined when the file is absent or a symlink (never followed; a FIFO opens without blocking and fails the isFile check). */
function openNoFollow(file: string, index: number): number | undefined {
  try {
    return openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ELOOP') return undefined
    throw new P2PError('E_IO', `cannot read chunk ${index} on this peer: ${code}`)
  }
}

function readAsync(fd: number, into: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, at, length, position, (err, n) => (err ? reject(err) : resolve(n))))
}

interface ChunkSource {
  fd: number
  path: string
  /** Where the chunk starts in the file. */
  offset: number
  /** What `verified` remembers the chunk by. */
  key: string
  packed: boolean
}

export class ChunkServer {
  readonly limits: ServerLimits
  readonly stats: ServerStats = { connections: 0, refusedBusy: 0, requests: 0, chunksServed: 0, bytesServed: 0, errors: {}, corruptChunks: 0, hashedChunks: 0 }
  readonly budget: ByteBudget
  readonly log: Logger
  private readonly store: ChunkStore
  private readonly server: Server
  private readonly connections = new Set<ServerConnection>()
  private catalog = new Map<string, CatalogEntry>()
  private scanning: Promise<void> | undefined
  private lastScan = 0
  private readonly rescanMs: number
  private readonly verified = new Map<string, string>()
  private readonly packedHave = new PackedHaveCache()
  private recordedStamps = new Map<string, Promise<Array<string | null>>>()
  /** Chunk buffers, returned once a response's bytes are handed to the kernel. */
  readonly buffers = new BufferPool()
  private readonly host: string
  private readonly port: number

  constructor(options: ChunkServerOptions) {
    this.store = options.store
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits }
    this.log = options.log ?? silentLogger()
    this.host = options.host ?? '0.0.0.0'
    this.port = options.port ?? 0
    this.rescanMs = options.rescanMs ?? 250
    this.budget = new ByteBudget(this.limits.maxBufferedBytes)
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket))
  }

  get files(): number {
    return this.catalog.size
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.connections.size
  }

  async listen(): Promise<AddressInfo> {
    await this.rescan(true)
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => {
        const code = err.code === 'EADDRINUSE' ? 'E_USAGE' : 'E_IO'
        reject(new P2PError(code, `cannot listen on ${this.host}:${this.port}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (is another p2p-serve running? use --port)' : ''}`))
      })
      this.server.listen(this.port, this.host, () => resolve())
    })
    // After listening, accept errors (EMFILE: out of file descriptors) are logged, not fatal.
    this.server.on('error', (err: NodeJS.ErrnoException) => this.log.error({ code: err.code, err: err.message }, 'server error'))
    return this.server.address() as AddressInfo
  }

  /** Stop accepting; let in-flight responses finish for up to `graceMs`, then drop every connection. */
  async close(graceMs = 2000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    await Promise.race([
      Promise.all([...this.connections].map((c) => c.finish())),
      new Promise((resolve) => setTimeout(resolve, graceMs).unref()),
    ])
    for (const c of this.connections) c.destroy()
    await closed
  }

  countError(code: string): void {
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.limits.maxConnections) {
      this.stats.refusedBusy++
      this.log.warn({ remote: socket.remoteAddress, limit: this.limits.maxConnections }, 'connection refused: at the connection limit')
      ServerConnection.refuse(socket, 'E_BUSY', `this peer is at its limit of ${this.limits.maxConnections} connections; try again later`)
      return
    }
    this.stats.connections++
    const connection = new ServerConnection(socket, this)
    this.connections.add(connection)
    socket.once('close', () => this.connections.delete(connection))
  }

  /** The entry for an id; a miss triggers a (rate-limited) rescan of the store. */
  async entry(id: string): Promise<CatalogEntry> {
    let found = this.catalog.get(id)
    if (!found) {
      await this.rescan(false)
      found = this.catalog.get(id)
    }
    if (!found) throw new P2PError('E_NOT_FOUND', `this peer has no file with id ${id.slice(0, 12)}…`)
    return found
  }

  private rescan(force: boolean): Promise<void> {
    if (this.scanning) return this.scanning
    const wait = force ? 0 : Math.max(0, this.lastScan + this.rescanMs - Date.now())
    this.scanning = new Promise<void>((resolve) => setTimeout(resolve, wait)).then(async () => {
      const entries = await this.store.scan()
      this.catalog = new Map(entries.map((e) => [e.id, { dir: e.dir, manifest: e.manifest, manifestBytes: e.manifestBytes }]))
      this.recordedStamps = new Map() // a finished download or a new split may have recorded more
      this.lastScan = Date.now()
    }).catch((err: unknown) => {
      this.log.error({ err: (err as Error).message }, 'store scan failed')
    }).finally(() => { this.scanning = undefined })
    return this.scanning
  }

  /** A chunk's bytes (a pooled buffer: give it back to `buffers`), verified unless this exact file was verified before. */
  async readChunk(id: string, index: number): Promise<Buffer> {
    const { dir, manifest } = await this.entry(id)
    if (index >= manifest.chunks.length) {
      throw new P2PError('E_BAD_REQUEST', `index ${index} is out of range: the file has ${manifest.chunks.length} chunks`)
    }
    const source = await this.openSource(dir, manifest, index)
    const { fd, path, offset, key } = source
    try {
      const st = fstatSync(fd)
      const length = chunkLength(manifest, index)
      if (!st.isFile() || st.size !== (source.packed ? manifest.size : length)) throw this.corrupt(path, key, index, manifest, 'wrong size')
      const stamp = stampOf(st)
      const data = this.buffers.take(length)
      try {
        for (let got = 0; got < length;) {
          const bytesRead = length - got <= SYNC_READ_BYTES
            ? readSync(fd, data, got, length - got, offset + got)
            : await readAsync(fd, data, got, length - got, offset + got)
          if (bytesRead === 0) throw this.corrupt(path, key, index, manifest, 'shrank while read')
          got += bytesRead
        }
        if (this.verified.get(key) !== stamp && (await this.recorded(id))[index] !== stamp) {
          // Shared memory: the hash thread reads it without a copy.
          this.stats.hashedChunks++
          if ((await hashThreads().digest(data)) !== manifest.chunks[index]) throw this.corrupt(path, key, index, manifest, 'SHA-256 mismatch')
          if (this.verified.size >= MAX_VERIFIED_ENTRIES) this.verified.delete(this.verified.keys().next().value!)
          this.verified.set(key, stamp)
        }
        return data
      } catch (err) {
        this.buffers.give(data)
        throw err
      }
    } finally {
      try {
        closeSync(fd)
      } catch {
        // nothing to do: the descriptor is gone either way
      }
    }
  }

  /**
   * The chunk's own file, or else the entry's packed `data` when `data.have`
   * lists the chunk; opened (and later stat'ed and closed) synchronously:
   * these take microseconds, less than a round trip through libuv's pool,
   * which cost ~0.1 ms per call and dominated serving 64 KiB chunks.
   */
  private async openSource(dir: string, manifest: Manifest, index: number): Promise<ChunkSource> {
    const path = this.store.chunkPath(dir, index)
    const missing = (): P2PError => new P2PError('E_NOT_FOUND', `this peer does not have chunk ${index} of ${manifest.name}`)
    const own = openNoFollow(path, index)
    if (own !== undefined) return { fd: own, path, offset: 0, key: path, packed: false }
    if (!(await this.packedHave.get(dir, manifest.chunks.length))?.get(index)) throw missing()
    const data = packedDataPath(dir)
    const fd = openNoFollow(data, index)
    if (fd === undefined) throw missing()
    return { fd, path: data, offset: index * manifest.chunkSize, key: `${data}#${index}`, packed: true }
  }

  /** Stamps of chunks hashed by split or a download (store.recordVerified), loaded once per id per scan. */
  private recorded(id: string): Promise<Array<string | null>> {
    let stamps = this.recordedStamps.get(id)
    if (!stamps) this.recordedStamps.set(id, (stamps = this.store.verifiedStamps(id)))
    return stamps
  }

  private corrupt(path: string, key: string, index: number, manifest: Manifest, why: string): P2PError {
    this.stats.corruptChunks++
    this.verified.delete(key)
    this.log.warn({ path, index, name: manifest.name, why }, 'chunk on disk does not match its manifest; not serving it')
    return new P2PError('E_NOT_FOUND', `chunk ${index} of ${manifest.name} is damaged on this peer (${why})`)
  }
}
