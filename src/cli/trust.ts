import { join, resolve } from 'node:path'
import {
  type DatagramGuard,
  datagramGuard,
  describeMode,
  type Logger,
  loadTrust,
  printable,
  type SecureOptions,
  secureOptions,
  type Trust,
} from '../index.js'
import { pickSettings, type Settings } from './common.js'

/**
 * The trust settings every command that talks to peers shares (docs/security.md):
 * the transport, the identity, a private swarm's secret and an allow-list.
 */
export const TRUST_SETTINGS = pickSettings(
  'transport',
  'identity',
  'secret',
  'secretFile',
  'allow',
  'allowFile',
  'handshakeTimeout',
)

/** What --help says about the modes (the mode a run is in is its first line of output and in its log). */
export const TRUST_HELP = `
Modes (docs/security.md):
  encrypted (default)   every TCP connection is a Noise handshake, then encrypted records; the peer ID a
                        peer announces is the key its connection must reach
  private swarm         --secret / P2P_SECRET / --secret-file: datagrams sealed, connections must prove the secret
  allow-list            --allow ID,… / --allow-file: only these peers are served and downloaded from
  plain                 --transport plain: today's unencrypted protocol, for tools that speak only it`

/** The process's trust, resolved once from its settings; its identity defaults to the chunk store's. */
export async function commandTrust(
  settings: Settings<typeof TRUST_SETTINGS> & { chunksDir: string },
  log: Logger,
): Promise<Trust> {
  const own = join(settings.chunksDir, '.p2p', 'identity.key')
  // The store's own path spelled out (--identity, P2P_IDENTITY, a config file) is the store's own: made with its
  // .p2p as by default (an attacker pass: given explicitly on a fresh store, it was E_NOT_FOUND, "mkdir -p").
  const storeOwn = !settings.identity || resolve(settings.identity) === resolve(own)
  const trust = await loadTrust({
    transport: settings.transport,
    identityPath: settings.identity || own,
    identityWithin: storeOwn ? settings.chunksDir : undefined,
    secret: settings.secret,
    secretFile: settings.secretFile,
    allow: settings.allow,
    allowFile: settings.allowFile,
    handshakeTimeoutMs: settings.handshakeTimeout * 1000,
  })
  log.info(
    {
      peerId: trust.identity.peerId,
      identity: trust.identity.path,
      created: trust.identity.created,
      mode: describeMode(trust),
    },
    'trust',
  )
  return trust
}

/** The chunk server's transport option. */
export function serverTransport(trust: Trust): { secure?: SecureOptions } {
  return trust.transport === 'encrypted' ? { secure: secureOptions(trust) } : {}
}

/** What an announcer says about us, and its seal in a private swarm. */
export function announcerTrust(
  trust: Trust,
  staleAfterMs: number,
): { peerId: string; transport?: 'noise'; guard?: DatagramGuard } {
  // A guard of its own, never a listener's: a --seed listener is handed the very datagrams the announcer
  // opens (its sharedPort), and one guard opening a datagram twice would take the second for a replay.
  const guard = datagramGuard(trust, staleAfterMs)
  return {
    peerId: trust.identity.peerId,
    ...(trust.transport === 'encrypted' ? { transport: 'noise' as const } : {}),
    ...(guard ? { guard } : {}),
  }
}

/** One line for people: the mode and who we are. */
export function modeLine(trust: Trust): string {
  const { identity } = trust
  // A new key is a peer ID no allow-list names yet: said, with where it went (a typo in --identity's file name,
  // its directory there, made one without a word: a UX audit).
  const made = identity.created ? ` (a new identity, made now at ${printable(identity.path)})` : ''
  return `${describeMode(trust)}; peer ID ${identity.peerId}${made}`
}
