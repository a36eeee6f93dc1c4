import { randomBytes } from 'node:crypto'
import { lstat, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import NoiseSecretStream, { type KeyPair } from '@hyperswarm/secret-stream'
import { publishOnce } from '../disk.js'
import { fromFsError, hasCode, P2PError } from '../errors.js'
import { isAbsent, openRegularFile, realDirectories } from '../safe-fs.js'
import { formatPeerId } from './peer-id.js'

/**
 * This peer's identity: an ed25519 key pair (the static key of its Noise
 * handshakes; its public key is the peer ID). Kept in one small text file,
 * created on first use with mode 0600 (in a directory that is there, or the
 * chunk store's `.p2p`):
 *
 *   # p2pshare identity: this peer's private key. Whoever reads it can pose as this peer.
 *   p2pshare-identity 1
 *   seed <64 lowercase hex: the 32-byte ed25519 seed>
 *   peer-id <the public key as a peer ID>
 *
 * The key pair is derived from the seed (libsodium's crypto_sign_seed_keypair,
 * through secret-stream); the peer-id line must match what the seed gives, so
 * a truncated or damaged file is refused (E_IDENTITY), never silently
 * replaced by a new identity. So is a file readable by group or others, a
 * symlink, a FIFO or anything else but a regular file.
 */

export interface Identity {
  keyPair: KeyPair
  publicKey: Buffer
  peerId: string
  path: string
  /** Made by this call (there was no file). */
  created: boolean
}

const MAGIC = 'p2pshare-identity 1'
const MAX_FILE_BYTES = 4096
const SEED_BYTES = 32

export interface IdentityOptions {
  /**
   * Make a new identity when the file does not exist (default true); else E_IDENTITY. Outside a store (`within`),
   * only in a directory that is there: else E_NOT_FOUND naming it.
   */
  create?: boolean
  /**
   * A chunk store's root that holds the file (the default, `<store>/.p2p/identity.key`): every directory
   * between them must be a real one, never a link (E_IO), as everywhere in a store. A path of the user's
   * own choosing (`--identity`) is theirs, links and all.
   */
  within?: string
}

/** The identity kept at `path`, created there first when absent (and `create`). */
export async function loadIdentity(path: string, options: IdentityOptions = {}): Promise<Identity> {
  if (options.within !== undefined)
    await realDirectories(options.within, dirname(path), options.create !== false).catch((err: unknown) => {
      throw hasCode(err) ? err : fromFsError(err, `checking ${dirname(path)}`)
    })
  try {
    return await readIdentity(path)
  } catch (err) {
    if (!isAbsent(err)) throw err
  }
  if (options.create === false)
    throw new P2PError(
      'E_IDENTITY',
      `no identity file at ${path}: run any p2p command once to create one, or pass --identity`,
    )
  return createIdentity(path, options.within)
}

export function identityFromSeed(seed: Buffer, path = ''): Identity {
  const keyPair = NoiseSecretStream.keyPair(seed)
  return { keyPair, publicKey: keyPair.publicKey, peerId: formatPeerId(keyPair.publicKey), path, created: false }
}

export function encodeIdentityFile(seed: Buffer): string {
  const { peerId } = identityFromSeed(seed)
  return `# p2pshare identity: this peer's private key. Whoever reads it can pose as this peer.\n${MAGIC}\nseed ${seed.toString('hex')}\npeer-id ${peerId}\n`
}

/** The seed a file's text holds, or why it is refused. Pure, so it is fuzzed. */
export function parseIdentityFile(text: string): Buffer {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const [magic, seedLine, idLine, ...rest] = lines
  if (magic !== MAGIC) throw malformed(`does not start with "${MAGIC}"`)
  const seedHex = /^seed ([0-9a-f]{64})$/.exec(seedLine ?? '')?.[1]
  if (!seedHex) throw malformed('has no valid "seed" line (64 lowercase hex)')
  const seed = Buffer.from(seedHex, 'hex')
  const peerId = /^peer-id (\S+)$/.exec(idLine ?? '')?.[1]
  if (peerId !== identityFromSeed(seed).peerId)
    throw malformed('has a "peer-id" line that does not match its seed (truncated or damaged?)')
  if (rest.length > 0) throw malformed('has lines after "peer-id"')
  return seed
}

function malformed(what: string): P2PError {
  return new P2PError(
    'E_IDENTITY',
    `the identity file ${what}: restore it from a backup, or remove it to make a new identity (a new peer ID)`,
  )
}

async function readIdentity(path: string): Promise<Identity> {
  let bytes: Buffer
  let mode: number
  try {
    const { handle, stats } = await openRegularFile(path, { maxBytes: MAX_FILE_BYTES })
    mode = stats.mode
    try {
      bytes = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (isAbsent(err)) throw err
    throw new P2PError('E_IDENTITY', `identity file ${path}: ${hasCode(err) ? err.message : String(err)}`, undefined, {
      cause: err,
    })
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new P2PError(
      'E_IDENTITY',
      `identity file ${path} is readable or writable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${path}`,
    )
  }
  let seed: Buffer
  try {
    seed = parseIdentityFile(bytes.toString('utf8'))
  } catch (err) {
    if (hasCode(err, 'E_IDENTITY')) err.message = `${path}: ${err.message}`
    throw err
  }
  return identityFromSeed(seed, path)
}

/**
 * A path of the user's own (`--identity`) gets a new identity only in a directory that is there: a mistyped
 * directory was made without a word, and the command ran as a new peer, a peer ID no allow-list names (a UX audit).
 * The store's own (`within`) is made with its `.p2p` directory, as the store is.
 */
async function directoryThere(path: string): Promise<void> {
  const dir = dirname(path)
  const stats = await stat(dir).catch((err: unknown) => {
    if (isAbsent(err)) return undefined
    throw fromFsError(err, `checking ${dir}`)
  })
  if (stats?.isDirectory()) return
  // Something there that is no directory (a file, a link to nothing): mkdir -p would fail on it ("File exists").
  const there =
    stats !== undefined ||
    (await lstat(dir).then(
      () => true,
      () => false,
    ))
  if (there)
    throw new P2PError(
      'E_NOT_FOUND',
      `no identity file at ${path}: ${dir} is not a directory (a file, or a link to nothing, is there): check the path (--identity, P2P_IDENTITY or "identity" in the config file)`,
    )
  throw new P2PError(
    'E_NOT_FOUND',
    `no identity file at ${path}, and no directory ${dir} to make one in: check the path (--identity, P2P_IDENTITY or "identity" in the config file), or make the directory (mkdir -p ${dir}) for a new identity, a new peer ID`,
  )
}

/**
 * A new identity, published only if no identity file is there (disk.ts,
 * publishOnce: mode 0600 from its creation): of two commands starting
 * together (p2p-serve and p2p-announce) one creates the identity and the
 * other reads it; neither replaces it.
 */
async function createIdentity(path: string, within: string | undefined): Promise<Identity> {
  if (within === undefined) await directoryThere(path)
  const seed = randomBytes(SEED_BYTES)
  let created: boolean
  try {
    created = await publishOnce(path, encodeIdentityFile(seed), { mode: 0o600, ...(within ? { within } : {}) })
  } catch (err) {
    throw new P2PError('E_IDENTITY', `cannot create the identity file ${path}: ${(err as Error).message}`, undefined, {
      cause: err,
    })
  }
  if (!created) return readIdentity(path)
  return { ...identityFromSeed(seed, path), created: true }
}
