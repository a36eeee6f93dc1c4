// Types for the parts of @hyperswarm/secret-stream and sodium-native that p2pshare uses (neither ships its own).

declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream'
  export interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  export interface NoiseSecretStreamOptions {
    keyPair?: KeyPair
    remotePublicKey?: Buffer
    handshake?: { tx: Buffer; rx: Buffer; hash: Buffer; publicKey: Buffer; remotePublicKey: Buffer }
    data?: Buffer
  }
  /** A streamx Duplex: close enough to Node's for what the tests and benchmarks do with it. */
  export default class NoiseSecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream: Duplex | null, options?: NoiseSecretStreamOptions)
    readonly publicKey: Buffer
    readonly remotePublicKey: Buffer | null
    readonly handshakeHash: Buffer | null
    readonly opened: Promise<boolean>
    setTimeout(ms: number): void
    static keyPair(seed?: Buffer): KeyPair
    /** The 32-byte id a side sends in its stream header: a keyed hash of the handshake hash. */
    static id(handshakeHash: Buffer, isInitiator: boolean, out?: Buffer): Buffer
    /** Where every byte of the raw stream arrives (the engine binds it when the stream opens). */
    _onrawdata(data: Uint8Array): void
  }
}

declare module '@hyperswarm/secret-stream/lib/handshake.js' {
  import type { KeyPair } from '@hyperswarm/secret-stream'
  export interface HandshakeStep {
    /** The next message to send, already framed with its 3-byte little-endian length, or null. */
    data: Buffer | null
    remotePublicKey: Buffer | null
    hash: Buffer | null
    tx: Buffer | null
    rx: Buffer | null
  }
  /** Noise XX over ed25519 (noise-handshake + noise-curve-ed), as NoiseSecretStream runs it. */
  export default class Handshake {
    constructor(isInitiator: boolean, keyPair: KeyPair, remotePublicKey: Buffer | null, pattern: 'XX')
    /** null when the message is invalid (the handshake is then dead). */
    recv(message: Buffer): HandshakeStep | null
    send(): HandshakeStep | null
    destroy(): void
  }
}

declare module 'sodium-native' {
  export const crypto_secretstream_xchacha20poly1305_STATEBYTES: number
  export const crypto_secretstream_xchacha20poly1305_HEADERBYTES: number
  export const crypto_secretstream_xchacha20poly1305_KEYBYTES: number
  export const crypto_secretstream_xchacha20poly1305_ABYTES: number
  export const crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number
  export const crypto_aead_xchacha20poly1305_ietf_ABYTES: number
  export const crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number
  export const crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number
  export const crypto_sign_PUBLICKEYBYTES: number
  export const crypto_sign_SECRETKEYBYTES: number
  export const crypto_sign_SEEDBYTES: number
  export function crypto_secretstream_xchacha20poly1305_init_push(state: Buffer, header: Buffer, key: Buffer): void
  export function crypto_secretstream_xchacha20poly1305_push(
    state: Buffer,
    c: Buffer,
    m: Buffer,
    ad: Buffer | null,
    tag: number,
  ): number
  export function crypto_secretstream_xchacha20poly1305_init_pull(state: Buffer, header: Buffer, key: Buffer): void
  /** Throws when the message does not authenticate. */
  export function crypto_secretstream_xchacha20poly1305_pull(
    state: Buffer,
    m: Buffer,
    tag: Buffer,
    c: Buffer,
    ad: Buffer | null,
  ): number
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Buffer,
    m: Buffer,
    ad: Buffer | null,
    nsec: null,
    npub: Buffer,
    k: Buffer,
  ): number
  /** Throws when the ciphertext does not authenticate. */
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Buffer,
    nsec: null,
    c: Buffer,
    ad: Buffer | null,
    npub: Buffer,
    k: Buffer,
  ): number
  export function crypto_sign_seed_keypair(pk: Buffer, sk: Buffer, seed: Buffer): void
  export function randombytes_buf(buf: Buffer): void
  export function sodium_memzero(buf: Buffer): void
}
