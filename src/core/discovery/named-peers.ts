import { lookup as dnsLookup } from 'node:dns'
import { isIPv4, isIPv6 } from 'node:net'
import { P2PError } from '../errors.js'
import { type FamilyOptions, type LocalInterface, listInterfaces } from './interfaces.js'
import { canonicalAddress, unicastProblem } from './unicast-address.js'

/**
 * Peers the user names (`--peer HOST[:PORT]`, P2P_PEERS, the config file's
 * list): reached by unicast where broadcast and multicast do not go (across
 * a router, through an access point that isolates its clients). Forms:
 *
 *   laptop.lan   laptop.lan:47011   192.168.1.20:47011   [fd00::20]:47011
 *   fd00::20     fe80::1%eth0       [fe80::1%eth0]:47011
 *
 * The port is the peer's UDP discovery port (default: ours). An IPv6 address
 * with a port needs brackets; a link-local one needs its zone. Names resolve
 * through the system resolver (/etc/hosts, DNS, mDNS where configured), all
 * addresses, within a deadline: a name that does not resolve is a clear
 * error, never a hang.
 */

export interface NamedPeer {
  /** As the user wrote it, for messages. */
  text: string
  /** A host name, or an IP address (IPv6 without brackets, with its zone). */
  host: string
  port: number
  literal: boolean
}

export interface PeerTarget {
  address: string
  port: number
  /** The named peer it came from. */
  name: string
}

export const MAX_NAMED_PEERS = 64
/** A name with more addresses than this is reached at the first ones only (one query each). */
export const MAX_ADDRESSES_PER_NAME = 8
export const DEFAULT_RESOLVE_TIMEOUT_MS = 3000

const MAX_PEER_TEXT = 300
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/

function bad(text: string, why: string): P2PError {
  return new P2PError(
    'E_USAGE',
    `invalid peer ${JSON.stringify(text.slice(0, 80))}: ${why} (expected HOST, HOST:PORT, [IPv6]:PORT or fe80::1%eth0)`,
  )
}

function parsePort(text: string, raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535)
    throw bad(text, 'the port must be a number from 1 to 65535')
  return Number(raw)
}

/** An address literal, canonical (an IPv4-mapped one as IPv4), or E_USAGE saying why it is no peer. */
function literal(text: string, address: string): string {
  if (!isIPv4(address) && !isIPv6(address)) throw bad(text, 'not an IPv6 address')
  const problem = unicastProblem(address)
  if (problem !== undefined) throw bad(text, problem)
  return canonicalAddress(address)
}

function isHostName(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host
  if (name.length === 0 || name.length > 253) return false
  const labels = name.split('.')
  // All-numeric dotted text that is not an IPv4 address (999.1.1.1, 10.1) is a typo, not a name.
  if (labels.every((l) => /^\d+$/.test(l))) return false
  return labels.every((l) => LABEL.test(l))
}

export function parseNamedPeer(text: string, defaultPort: number): NamedPeer {
  const value = text.trim()
  if (value === '') throw bad(text, 'empty')
  if (value.length > MAX_PEER_TEXT) throw bad(text, `longer than ${MAX_PEER_TEXT} characters`)
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(value)
  if (bracketed) {
    if (!isIPv6(bracketed[1]!)) throw bad(text, 'not an IPv6 address')
    return {
      text: value,
      host: literal(text, bracketed[1]!),
      port: bracketed[2] === undefined ? defaultPort : parsePort(text, bracketed[2]),
      literal: true,
    }
  }
  if (value.includes('[') || value.includes(']')) throw bad(text, 'unbalanced brackets')
  const colons = value.split(':').length - 1
  if (colons >= 2) {
    if (!isIPv6(value)) throw bad(text, 'not an IPv6 address') // a bare IPv6 address takes no port: brackets say where it ends
    return { text: value, host: literal(text, value), port: defaultPort, literal: true }
  }
  const [host, port] =
    colons === 1 ? [value.slice(0, value.indexOf(':')), value.slice(value.indexOf(':') + 1)] : [value, undefined]
  const portNumber = port === undefined ? defaultPort : parsePort(text, port)
  if (isIPv4(host)) return { text: value, host: literal(text, host), port: portNumber, literal: true }
  if (!isHostName(host)) throw bad(text, 'not a host name or IP address')
  return { text: value, host: host.toLowerCase(), port: portNumber, literal: false }
}

/** Every entry of a list (or comma-separated text), parsed, duplicates dropped; at most MAX_NAMED_PEERS. */
export function parseNamedPeers(list: string | readonly string[], defaultPort: number): NamedPeer[] {
  const items = (typeof list === 'string' ? [list] : list)
    .flatMap((item) => item.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '')
  const out = new Map<string, NamedPeer>()
  for (const item of items) {
    const peer = parseNamedPeer(item, defaultPort)
    out.set(`${peer.host}|${peer.port}`, peer)
  }
  if (out.size > MAX_NAMED_PEERS)
    throw new P2PError('E_USAGE', `too many peers: ${out.size} named, at most ${MAX_NAMED_PEERS}`)
  return [...out.values()]
}

/** dns.lookup's shape with { all: true }. */
export type Lookup = (
  host: string,
  options: { all: true; verbatim: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: Array<{ address: string; family: number }>) => void,
) => void

export interface ResolveOptions {
  families: FamilyOptions
  lookup?: Lookup
  timeoutMs?: number
  /** The host's interfaces, for the checks that need them (subnet broadcasts, zones); default: the system's. */
  interfaces?: readonly LocalInterface[]
}

/**
 * The addresses of one named peer, in the resolver's order, of the families
 * that are on, at most MAX_ADDRESSES_PER_NAME. Throws E_USAGE naming the peer
 * when it does not resolve (or only to addresses that cannot be used) or the
 * resolver does not answer within the deadline.
 */
export async function resolveNamedPeer(peer: NamedPeer, options: ResolveOptions): Promise<PeerTarget[]> {
  const interfaces = options.interfaces ?? listInterfaces()
  const usable = (address: string): boolean =>
    ((isIPv4(address) && options.families.ipv4) || (isIPv6(address) && options.families.ipv6)) &&
    unicastProblem(address, interfaces) === undefined
  let addresses: string[]
  if (peer.literal) {
    const problem = unicastProblem(peer.host, interfaces)
    if (problem !== undefined) throw bad(peer.text, problem)
    addresses = [peer.host]
  } else {
    addresses = await lookupAll(
      peer,
      options.lookup ?? (dnsLookup as unknown as Lookup),
      options.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
    )
  }
  const found = [...new Set(addresses.map(canonicalAddress).filter(usable))].slice(0, MAX_ADDRESSES_PER_NAME)
  if (found.length === 0) {
    const families =
      [options.families.ipv4 && 'IPv4', options.families.ipv6 && 'IPv6'].filter(Boolean).join(' or ') ||
      'no family (both are off)'
    throw new P2PError(
      'E_USAGE',
      `peer ${JSON.stringify(peer.text)} has no usable ${families} address${addresses.length > 0 ? ` (it resolves to ${addresses.slice(0, 4).join(', ')})` : ''}`,
    )
  }
  return found.map((address) => ({ address, port: peer.port, name: peer.text }))
}

function lookupAll(peer: NamedPeer, lookup: Lookup, timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    // The resolver cannot be cancelled: past the deadline its late answer is ignored.
    const timer = setTimeout(
      () =>
        reject(
          new P2PError(
            'E_USAGE',
            `cannot resolve peer ${JSON.stringify(peer.text)}: the resolver did not answer within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    )
    try {
      lookup(peer.host, { all: true, verbatim: true }, (err, results) => {
        clearTimeout(timer)
        if (err) {
          const why = err.code === 'ENOTFOUND' || err.code === 'EAI_NONAME' ? 'no such host' : (err.code ?? err.message)
          reject(new P2PError('E_USAGE', `cannot resolve peer ${JSON.stringify(peer.text)}: ${why}`))
        } else {
          resolve((Array.isArray(results) ? results : []).map((r) => r.address).filter((a) => typeof a === 'string'))
        }
      })
    } catch (err) {
      clearTimeout(timer)
      reject(new P2PError('E_USAGE', `cannot resolve peer ${JSON.stringify(peer.text)}: ${(err as Error).message}`))
    }
  })
}

export interface ResolvedPeers {
  targets: PeerTarget[]
  failed: Array<{ peer: string; reason: string }>
}

/** Resolve every named peer at once; each failure is reported with its reason, the others still count. */
export async function resolveNamedPeers(peers: readonly NamedPeer[], options: ResolveOptions): Promise<ResolvedPeers> {
  const results = await Promise.allSettled(peers.map((p) => resolveNamedPeer(p, options)))
  const out: ResolvedPeers = { targets: [], failed: [] }
  for (const [i, r] of results.entries()) {
    if (r.status === 'fulfilled') out.targets.push(...r.value)
    else out.failed.push({ peer: peers[i]!.text, reason: (r.reason as Error).message })
  }
  const seen = new Set<string>()
  out.targets = out.targets.filter((t) => !seen.has(`${t.address}|${t.port}`) && seen.add(`${t.address}|${t.port}`))
  return out
}
