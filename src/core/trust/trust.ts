import { hasCode, P2PError } from '../errors.js'
import { openRegularFile } from '../safe-fs.js'
import { AllowList, loadAllowList } from './allow-list.js'
import { DatagramGuard } from './datagram-guard.js'
import { type Identity, loadIdentity } from './identity.js'
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, type SecureOptions } from './secure-socket.js'
import { parseSecret, type SwarmKeys, swarmKeysFromText } from './swarm-secret.js'

/**
 * Everything a process needs to know about trust, resolved once at start:
 * which transport it speaks, its identity, its private swarm (if any) and
 * its allow-list (if any). The commands build it from their settings
 * (`loadTrust`); servers, clients, announcers and listeners take it as an
 * option and ask it for what they need.
 */

/** What the user chooses (`--transport`); announcements say `"transport":"noise"` for the encrypted one (protocol.md §5). */
export type TransportMode = 'encrypted' | 'plain'

export interface Trust {
  transport: TransportMode
  identity: Identity
  swarm: SwarmKeys | undefined
  allow: AllowList | undefined
  handshakeTimeoutMs: number
}

export interface TrustSettings {
  transport: TransportMode
  identityPath: string
  /** The chunk store holding the identity file when its path is the default one (identity.ts `within`). */
  identityWithin?: string | undefined
  /** The secret's text (`--secret`, `P2P_SECRET`); never logged. */
  secret?: string | undefined
  secretFile?: string | undefined
  allow?: readonly string[] | undefined
  allowFile?: string | undefined
  handshakeTimeoutMs?: number | undefined
}

const MAX_SECRET_FILE_BYTES = 4096

export async function loadTrust(settings: TrustSettings): Promise<Trust> {
  const secretText = await secretOf(settings)
  if (settings.transport === 'plain' && secretText !== undefined) {
    throw new P2PError(
      'E_USAGE',
      'a private swarm needs the encrypted transport: drop --transport plain, or drop the secret',
    )
  }
  if (settings.transport === 'plain' && (settings.allow?.length || settings.allowFile !== undefined)) {
    throw new P2PError(
      'E_USAGE',
      '--allow needs the encrypted transport (the plain one cannot tell who a peer is): drop --transport plain',
    )
  }
  const [identity, swarm, allow] = await Promise.all([
    loadIdentity(settings.identityPath, settings.identityWithin ? { within: settings.identityWithin } : {}),
    secretText === undefined ? undefined : swarmKeysFromText(secretText),
    loadAllowList(settings.allow ?? [], settings.allowFile),
  ])
  return {
    transport: settings.transport,
    identity,
    swarm,
    allow,
    handshakeTimeoutMs: settings.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  }
}

/** The private swarm's keys alone (p2p-listen needs no identity), or undefined outside one. */
export async function loadSwarmKeys(
  settings: Pick<TrustSettings, 'secret' | 'secretFile'>,
): Promise<SwarmKeys | undefined> {
  const text = await secretOf(settings)
  return text === undefined ? undefined : swarmKeysFromText(text)
}

/**
 * The private swarm's secret as given (--secret or the file's first line), checked as every peer checks it
 * (`E_USAGE` for a weak passphrase or a damaged key), or undefined outside one: what a share link carries. A
 * link with a secret no command takes was printed by p2p-split without a word (a reviewer, fifty-fifth session).
 */
export async function loadSwarmSecret(
  settings: Pick<TrustSettings, 'secret' | 'secretFile'>,
): Promise<string | undefined> {
  const text = (await secretOf(settings))?.trim()
  if (text !== undefined) parseSecret(text)
  return text
}

/** Whether two secrets' texts are one swarm's (a key in either case, a passphrase as NFC): both must parse. */
export function sameSwarmSecret(a: string, b: string): boolean {
  const [x, y] = [parseSecret(a), parseSecret(b)]
  if (x.kind === 'key' && y.kind === 'key') return x.key.equals(y.key)
  return x.kind === 'passphrase' && y.kind === 'passphrase' && x.passphrase === y.passphrase
}

async function secretOf(settings: Pick<TrustSettings, 'secret' | 'secretFile'>): Promise<string | undefined> {
  if (settings.secret !== undefined && settings.secretFile !== undefined) {
    throw new P2PError('E_USAGE', 'give the swarm secret once: --secret (or P2P_SECRET) or --secret-file, not both')
  }
  const text = settings.secretFile !== undefined ? await readSecretFile(settings.secretFile) : settings.secret
  return text === undefined || text.trim() === '' ? undefined : text
}

/** The secret in a file (first line), refused when others may read it. */
async function readSecretFile(path: string): Promise<string> {
  try {
    const { handle, stats } = await openRegularFile(path, { maxBytes: MAX_SECRET_FILE_BYTES, followSymlinks: true })
    try {
      if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
        throw new P2PError(
          'E_USAGE',
          `the secret file ${path} is readable or writable by others: run chmod 600 ${path}`,
        )
      }
      return (await handle.readFile('utf8')).split('\n')[0]!.trim()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (hasCode(err, 'E_USAGE')) throw err
    // Not quoted: a path that names no file may be a secret given here by mistake (fs's message quotes it too).
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new P2PError('E_USAGE', `cannot read the file given with --secret-file (${code})`, undefined, { cause: err })
  }
}

/** One line for --help, logs and `p2p id`: which mode this process is in. */
export function describeMode(trust: Pick<Trust, 'transport' | 'swarm' | 'allow'>): string {
  if (trust.transport === 'plain') return 'plain transport (unencrypted, anyone on the LAN can read and fetch)'
  const parts = ['encrypted (Noise)']
  // "anyone may fetch" only when no allow-list says otherwise (a UX audit read both in one line).
  parts.push(trust.swarm ? `private swarm ${trust.swarm.tag}` : `open swarm${trust.allow ? '' : ' (anyone may fetch)'}`)
  if (trust.allow) parts.push(`allow-list of ${trust.allow.size} peer${trust.allow.size === 1 ? '' : 's'}: no one else`)
  return parts.join(', ')
}

/** What a SecureSocket of this process needs; `expectedRemoteKey` for a connection to an announced peer. */
export function secureOptions(trust: Trust, extra: Partial<SecureOptions> = {}): SecureOptions {
  return {
    keyPair: trust.identity.keyPair,
    handshakeTimeoutMs: trust.handshakeTimeoutMs,
    ...(trust.swarm ? { proofKey: trust.swarm.proofKey } : {}),
    ...(trust.allow ? { allow: (key: Buffer) => trust.allow!.allows(key) } : {}),
    ...extra,
  }
}

/** The seal of a private swarm's datagrams, or undefined outside one. */
export function datagramGuard(trust: Pick<Trust, 'swarm'>, staleAfterMs: number): DatagramGuard | undefined {
  return trust.swarm ? new DatagramGuard(trust.swarm.datagramKey, staleAfterMs) : undefined
}

export { AllowList }
