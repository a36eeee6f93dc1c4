import chalk from 'chalk'
import { type BroadcastSetting, type DiscoveryReach, P2PError, printable, resolveReach } from '../index.js'
import { pickSettings } from './common.js'

/**
 * The discovery reach of a command from its settings (src/core/discovery/reach.ts).
 * A named peer that does not resolve stops p2p-download at once (E_USAGE: it
 * would only wait --wait for nothing); the daemons warn and go on with the
 * other paths (the name may resolve again later, e.g. a laptop back on VPN;
 * they are restarted to pick it up).
 */
/** The settings by which a command that hears announcements reaches peers and keeps what it heard (in --help's order). */
export const LISTENING_REACH_SETTINGS = pickSettings(
  'dictionary',
  'udpPort',
  'broadcast',
  'peer',
  'knownPeers',
  'ipv4',
  'ipv6',
  'staleAfter',
)

export interface ReachSettingValues {
  broadcast: BroadcastSetting
  ipv4: boolean
  ipv6: boolean
  peer: string[]
  udpPort: number
  dictionary?: string
  knownPeers?: boolean
}

export async function commandReach(
  settings: ReachSettingValues,
  ctx: { log: import('../index.js').Logger; err: (line: string) => void },
  options: { strict: boolean },
): Promise<DiscoveryReach> {
  if (!settings.ipv4 && !settings.ipv6)
    throw new P2PError('E_USAGE', '--ipv4 off and --ipv6 off together leave no way to discover peers')
  const reach = await resolveReach(
    {
      broadcast: settings.broadcast,
      ipv4: settings.ipv4,
      ipv6: settings.ipv6,
      peers: settings.peer,
      udpPort: settings.udpPort,
      dictionaryPath: settings.knownPeers === true ? settings.dictionary : undefined,
    },
    { log: ctx.log },
  )
  const [first] = reach.unresolved
  if (first && options.strict) throw new P2PError('E_USAGE', first.reason)
  for (const f of reach.unresolved) ctx.err(chalk.yellow(`Warning: ${printable(f.reason)}; going on without it`))
  return reach
}
