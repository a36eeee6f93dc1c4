// Types for the parts of hyperdht that p2pshare uses (it ships none).

declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  import type NoiseSecretStream from '@hyperswarm/secret-stream'
  import type { KeyPair, NoiseSecretStreamOptions } from '@hyperswarm/secret-stream'

  export interface DhtAddress {
    host: string
    port: number
  }
  export interface DhtOptions {
    bootstrap?: Array<string | DhtAddress>
    keyPair?: KeyPair
    host?: string
    port?: number
    /** false: bind `port` or fail (the first refused bind throws), never any free port instead. */
    anyPort?: boolean
    ephemeral?: boolean
    firewalled?: boolean
    connectionKeepAlive?: number | false
  }
  export interface DhtPeer {
    publicKey: Buffer
    relayAddresses: DhtAddress[]
  }
  export interface QueryReply {
    from: { host: string; port: number }
    peers: DhtPeer[]
  }
  /** A dht-rpc query: an async iterable of replies (and a streamx Readable). */
  export interface Query extends AsyncIterable<QueryReply> {
    destroy(err?: Error): void
    finished(): Promise<void>
    readonly closestReplies: unknown[]
  }
  /** Makes the Noise stream of each connection (the engine's default: a plain NoiseSecretStream). */
  export type SecretStreamFactory = (
    isInitiator: boolean,
    rawStream: Duplex | null,
    options?: NoiseSecretStreamOptions,
  ) => NoiseSecretStream
  export interface ConnectOptions {
    keyPair?: KeyPair
    createSecretStream?: SecretStreamFactory
    relayAddresses?: DhtAddress[]
    /** Asks the server to relay the connection through this key (p2pshare never does: the tests' strangers do). */
    relayThrough?: Buffer
    /** Called when a hole punch is about to be tried; return false to abort it. */
    holepunch?: (
      remoteFirewall: number,
      localFirewall: number,
      remoteAddresses: unknown,
      localAddresses: unknown,
    ) => boolean
  }
  /** A UDX socket (opaque here: compared by identity). */
  export interface UdxSocket {
    address(): { host: string; port: number }
  }
  export interface RawStream {
    readonly remoteHost: string | undefined
    readonly remotePort: number | undefined
    /** The UDP socket the stream runs on, once connected. */
    readonly socket: UdxSocket | null | undefined
    /** Bytes that came from the other end (udx-native's counter). */
    readonly bytesReceived?: number
    /** The smoothed round-trip time, ms (udx-native's srtt; 0 before a sample). */
    readonly rtt?: number
  }
  export interface DhtSocket extends NoiseSecretStream {
    readonly rawStream: RawStream | null
  }
  export interface ServerOptions {
    createSecretStream?: SecretStreamFactory
    /** `clientAddress`: where the handshake came from (the client, or the DHT node relaying it). */
    firewall?: (remotePublicKey: Buffer, payload: unknown, clientAddress?: { host?: string; port?: number }) => boolean
  }
  export interface DhtServer extends EventEmitter {
    listen(keyPair?: KeyPair): Promise<void>
    close(): Promise<void>
    /** Announce the server's key to its relay nodes again now. */
    refresh(): void
    address(): { host: string; port: number; publicKey: Buffer } | null
    readonly relayAddresses: DhtAddress[]
    on(event: 'connection', listener: (socket: DhtSocket) => void): this
  }
  export default class HyperDHT extends EventEmitter {
    constructor(options?: DhtOptions)
    static keyPair(seed?: Buffer): KeyPair
    /** BLAKE2b-256: a server key's DHT target. */
    static hash(data: Buffer): Buffer
    static bootstrapper(port: number, host: string, options?: DhtOptions): HyperDHT
    readonly destroyed: boolean

    readonly bootstrapNodes: DhtAddress[]
    readonly firewalled: boolean
    readonly stats: { punches: { consistent: number; random: number; open: number } }
    /** dht-rpc's own two sockets (the hole puncher uses sockets of a pool instead). */
    readonly io: { readonly serverSocket: UdxSocket | null; readonly clientSocket: UdxSocket | null }
    /** Binds the node's UDP sockets (what ready() does first, before it bootstraps). */
    bind(): Promise<void>
    ready(): Promise<void>
    fullyBootstrapped(): Promise<void>
    address(): { host: string; port: number }
    connect(remotePublicKey: Buffer, options?: ConnectOptions): DhtSocket
    createServer(options?: ServerOptions, onconnection?: (socket: DhtSocket) => void): DhtServer
    lookup(topic: Buffer): Query
    announce(topic: Buffer, keyPair: KeyPair, relayAddresses?: DhtAddress[]): Query
    unannounce(topic: Buffer, keyPair: KeyPair): Promise<void>
    destroy(options?: { force?: boolean }): Promise<void>
  }
}

declare module 'hyperdht/lib/messages.js' {
  import type { DhtAddress } from 'hyperdht'
  /** compact-encoding's decoding state. */
  export interface DecodeState {
    start: number
    end: number
    buffer: Uint8Array
    cache: null
  }
  export interface HandshakeMessages {
    /** A PEER_HANDSHAKE message (lib/router.js): throws on bytes that do not decode. */
    handshake: {
      decode(state: DecodeState): {
        mode: number
        noise: Uint8Array
        peerAddress: DhtAddress | null
        relayAddress: DhtAddress | null
      }
    }
  }
}

declare module 'hyperdht/testnet.js' {
  import type HyperDHT from 'hyperdht'
  export interface Testnet {
    nodes: HyperDHT[]
    bootstrap: Array<{ host: string; port: number }>
    destroy(): Promise<void>
  }
  export default function createTestnet(size?: number, options?: { host?: string; port?: number }): Promise<Testnet>
}
