import type { Announcement, QueryWant } from './announcement.js'
import { type KnownFile, summarizeClaims } from './claims.js'

/** Ids a name's claims may bring in (each admits that id's claims under any name): past it, by their name alone. */
export const MAX_IDS_PER_WANTED_NAME = 1024

/**
 * Whether a claim (a file id under a name, by the peer ID its announcement gives) is one a download may use;
 * `fromFile`: read from a dictionary file (kept there maybe long after its peer left), not heard.
 */
export type ClaimFilter = (id: string, name: string, peer: string, fromFile?: boolean) => boolean

/**
 * The claims a download keeps: by id, that id's; by name, the name's and then every claim of an id heard under
 * that name (a peer may hold the chosen file under another name, and is still a source for it). A download knows
 * what it wants, so claims about other files, which a LAN's flood makes by the thousand, cost it nothing; the
 * dictionary's byte caps bound what is kept. Without a want (the interactive picker lists the LAN), every claim.
 */
export function wantedClaims(
  want: QueryWant | undefined,
  /**
   * By name: the peers whose claims count (an allow-list: an unlisted stranger's file must not make the name
   * ambiguous). By id every claim counts: the download says which unlisted peer had it (`E_NO_PEER`), and passes
   * over an unlisted peer ID heard for a listed seeder's address (trusted-peers.ts).
   */
  heeded?: (peer: string) => boolean,
  /**
   * By name: told each peer left out for `heeded` that claimed the name in an announcement heard (not one read
   * from a dictionary file), so that a download that found the name nowhere else says who did.
   */
  unheeded?: (peer: string) => void,
): ClaimFilter | undefined {
  if (want?.id !== undefined) {
    const { id } = want
    return (claimId) => claimId === id
  }
  if (want?.name === undefined) return undefined
  const { name } = want
  const ids = new Set<string>()
  return (claimId, claimName, peer, fromFile) => {
    if (heeded && !heeded(peer)) {
      if (claimName === name && !fromFile) unheeded?.(peer)
      return false
    }
    if (claimName === name) {
      if (ids.size < MAX_IDS_PER_WANTED_NAME) ids.add(claimId)
      return true
    }
    return ids.has(claimId)
  }
}

/** The announcement with only the claims `keep` wants (undefined: it had some and none is wanted, so not a goodbye). */
export function wantedPart(
  a: Announcement,
  keep: ClaimFilter | undefined,
): { kept: Announcement | undefined; unwanted: number } {
  if (!keep || a.files.length === 0) return { kept: a, unwanted: 0 }
  const files = a.files.filter((f) => keep(f.id, f.name, a.peer))
  const unwanted = a.files.length - files.length
  return { kept: unwanted === 0 ? a : files.length === 0 ? undefined : { ...a, files }, unwanted }
}

/**
 * Each file with only the peers whose claims `keep` wants; files left with none go. Every claim is shown to
 * `keep` once before any is judged: a file lists claims in no order, and a claim of an id under another name
 * counts once the id was heard under the wanted name, wherever that claim comes in the file.
 */
export function wantedFiles(files: KnownFile[], keep: ClaimFilter | undefined): KnownFile[] {
  if (!keep) return files
  for (const f of files) for (const p of f.peers) keep(f.id, p.name, p.peer, true)
  const out: KnownFile[] = []
  for (const f of files) {
    const peers = f.peers.filter((p) => keep(f.id, p.name, p.peer, true))
    if (peers.length > 0) out.push(peers.length === f.peers.length ? f : summarizeClaims(f.id, peers))
  }
  return out
}
