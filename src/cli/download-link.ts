import { loadSwarmSecret, P2PError, parseShareLink, type ShareLink, sameSwarmSecret } from '../index.js'
import { endpoint } from './serve.js'

/**
 * A share link given to p2p-download or p2p get, taken into the run's options: its id is the file's, its peer
 * hint one more peer to ask by unicast, its secret the swarm's. A secret given as well (`--secret`, `P2P_SECRET`,
 * `--secret-file`) must be the link's: another was used without a word, and the download then blamed the firewall
 * (a usability pass: anyone with `P2P_SECRET` exported, opening another swarm's link).
 */
export async function takeShareLink(
  text: string,
  options: Record<string, unknown>,
  settings: { peer: string[]; secret: string | undefined; secretFile: string | undefined },
): Promise<ShareLink> {
  const link = parseShareLink(text)
  if (options.id !== undefined && options.id !== link.id)
    throw new P2PError('E_USAGE', 'the share link and --id name different files: give one')
  options.id = link.id
  if (link.peer) settings.peer = [...settings.peer, endpoint(link.peer.host, link.peer.port)]
  if (link.secret === undefined) return link
  const given = await loadSwarmSecret(settings)
  if (given === undefined) settings.secret = link.secret
  else if (!sameSwarmSecret(given, link.secret))
    throw new P2PError(
      'E_USAGE',
      "the share link carries another swarm's secret than --secret, P2P_SECRET or --secret-file gives: give one (unset P2P_SECRET, or leave out --secret-file, to use the link's)",
    )
  return link
}
