import { isIPv6 } from 'node:net'
import { P2PError } from '../errors.js'
import { idProblem } from '../manifest.js'
import { formatPeerId, parsePeerId, peerIdProblem } from '../trust/peer-id.js'
import { parseSecret } from '../trust/swarm-secret.js'
import { parseNamedPeer } from './named-peers.js'

/**
 * A share link (docs/protocol.md §6.3): all a downloader needs to find a file.
 *
 *   p2p://<id>[?peer=HOST:PORT][&seeder=<peer ID>][&secret=<percent-encoded secret>]
 *
 * `id` is the file id (64 lowercase hex digits); `peer` a hint, a peer to ask
 * by unicast as `--peer` does (the same rules: host name or address literal,
 * UDP discovery port); `seeder` the peer ID of a seeder reachable through the
 * DHT (`p2p share --dht` puts its own): a `--dht` download dials it first, by
 * its key, whatever else its topic holds; `secret` the private swarm's secret, present only
 * when the user asked (`--with-secret`): whoever holds the link is then in
 * the swarm. Parsing refuses anything else — an unknown or repeated
 * parameter, a fragment, control characters, a damaged secret, a link over
 * MAX_LINK_CHARS — with E_USAGE saying what is wrong, so a pasted link is
 * either exactly understood or not used at all.
 */

export const LINK_SCHEME = 'p2p://'
export const MAX_LINK_CHARS = 2048

export interface ShareLink {
  id: string
  /** The peer hint: a host (IPv6 without brackets) and its UDP discovery port. */
  peer?: { host: string; port: number }
  /** A DHT seeder's peer ID (its canonical text form). */
  seeder?: string
  /** The swarm secret's text (never logged). */
  secret?: string
}

/** The link's parameters, in the order they are written. */
const PARAMETERS = ['peer', 'seeder', 'secret'] as const

export function isShareLink(text: string): boolean {
  return text.trim().toLowerCase().startsWith(LINK_SCHEME)
}

export function formatShareLink(link: ShareLink): string {
  const params: string[] = []
  if (link.peer) {
    const host = isIPv6(link.peer.host) ? `[${link.peer.host}]` : link.peer.host
    // ':' and brackets stay readable; a zone's '%' and anything else odd is percent-encoded.
    const hint = encodeURIComponent(`${host}:${link.peer.port}`)
      .replace(/%3A/g, ':')
      .replace(/%5B/g, '[')
      .replace(/%5D/g, ']')
    params.push(`peer=${hint}`)
  }
  if (link.seeder !== undefined) params.push(`seeder=${formatPeerId(parsePeerId(link.seeder))}`)
  if (link.secret !== undefined) params.push(`secret=${encodeURIComponent(link.secret)}`)
  return `${LINK_SCHEME}${link.id}${params.length ? `?${params.join('&')}` : ''}`
}

/**
 * `text` with every `secret=` value and every `psk1-` key in it replaced by `<secret>`: what a log line or a
 * message may quote of a link (or of any argument) without handing out a private swarm's secret.
 */
export function withoutSecrets(text: string): string {
  // To the link's next other parameter ('&peer=' or '&seeder=', lower case as the parser reads them), the line's
  // end or the end: a raw passphrase may hold spaces, '#', '&' and '&PEER='. What was taken out already stays as
  // it is (a message quoting a link it redacted is redacted again on its way out).
  let out = ''
  let from = 0
  for (const found of text.matchAll(/secret=(?!<secret>|…')/gi)) {
    if (found.index < from) continue // inside a value already taken out
    const start = found.index + found[0].length
    const ends = ['&peer=', '&seeder=', '\n'].map((end) => text.indexOf(end, start)).filter((at) => at >= 0)
    out += `${text.slice(from, start)}<secret>`
    from = ends.length > 0 ? Math.min(...ends) : text.length
  }
  // A secret's text, not the bare prefix a message names it by ("56 characters after psk1-").
  return (out + text.slice(from)).replace(/psk1-[A-Za-z0-9_-]+/gi, '<secret>')
}

/**
 * Of a link, what a message or a log may quote: the scheme and the hex digits after it. What follows may be a
 * secret under a mistyped name (`?password=`, `?secr%65t=`, `&password=` without a `?`) or a piece of a raw
 * passphrase; an error's reason says what is wrong there.
 */
export function quotableLink(text: string): string {
  const value = text.trim()
  const head = /^p2p:\/\/[0-9a-f]{0,64}/i.exec(value)?.[0] ?? ''
  return head.length === value.length ? head : `${head}…`
}

const bad = (text: string, why: string): P2PError =>
  new P2PError(
    'E_USAGE',
    `invalid share link ${JSON.stringify(quotableLink(text))}: ${why} (expected p2p://<id>, then optionally ?peer=HOST:PORT, seeder=<peer ID> and a secret parameter)`,
  )

export function parseShareLink(text: string): ShareLink {
  const value = text.trim()
  if (value.length > MAX_LINK_CHARS) throw bad(value, `longer than ${MAX_LINK_CHARS} characters`)
  if (/[\u0000-\u001f\u007f\s]/.test(value)) throw bad(value, 'it holds spaces or control characters')
  if (!value.toLowerCase().startsWith(LINK_SCHEME)) throw bad(value, `it does not begin with ${LINK_SCHEME}`)
  if (value.includes('#')) throw bad(value, 'a fragment (#…) is not part of a share link')
  const rest = value.slice(LINK_SCHEME.length)
  const mark = rest.indexOf('?')
  // One slash after the id, as a chat client or a browser adds to what it takes for a URL's host, is no part of it.
  const id = (mark < 0 ? rest : rest.slice(0, mark)).replace(/\/$/, '').toLowerCase()
  const problem = idProblem(id)
  if (problem !== undefined) throw bad(value, `the id is not 64 hexadecimal digits: ${problem}`)
  const link: ShareLink = { id }
  if (mark < 0) return link
  const seen = new Set<string>()
  for (const pair of rest.slice(mark + 1).split('&')) {
    const eq = pair.indexOf('=')
    const key = eq < 0 ? pair : pair.slice(0, eq)
    if (!(PARAMETERS as readonly string[]).includes(key))
      throw bad(
        value,
        // Beside a secret, what looks like a parameter may be a piece of a raw passphrase holding '&': not quoted.
        seen.has('secret')
          ? "a parameter other than peer, seeder and secret (a passphrase holding '&' is written %26)"
          : 'an unknown parameter (only peer, seeder and secret; its name is not quoted: it may be a secret)',
      )
    if (seen.has(key)) throw bad(value, `${key} is given twice`)
    seen.add(key)
    if (eq < 0 || eq === pair.length - 1) throw bad(value, `${key} has no value`)
    let decoded: string
    try {
      decoded = decodeURIComponent(pair.slice(eq + 1))
    } catch {
      throw bad(value, `${key} is not valid percent-encoding`)
    }
    if (/[\u0000-\u001f\u007f]/.test(decoded)) throw bad(value, `${key} holds control characters`)
    if (key === 'peer') {
      let peer: ReturnType<typeof parseNamedPeer>
      try {
        peer = parseNamedPeer(decoded, 0)
      } catch (err) {
        // After a secret, this "peer" may be part of a raw passphrase: not quoted.
        if (seen.has('secret')) throw bad(value, 'the peer hint is not HOST:PORT or [IPv6]:PORT')
        throw err
      }
      if (peer.port === 0) throw bad(value, 'the peer hint needs its port (HOST:PORT or [IPv6]:PORT)')
      link.peer = { host: peer.host, port: peer.port }
    } else if (key === 'seeder') {
      // Where the typo is, never the text: after a secret, this "seeder" may be part of a raw passphrase.
      const typo = peerIdProblem(decoded)
      if (typo !== undefined) throw bad(value, `the seeder is not a peer ID: it ${typo}`)
      link.seeder = formatPeerId(parsePeerId(decoded))
    } else {
      parseSecret(decoded) // E_USAGE for a damaged key or a weak passphrase, without echoing it
      link.secret = decoded
    }
  }
  return link
}
