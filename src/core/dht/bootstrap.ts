import { isIPv4 } from 'node:net'
import { P2PError } from '../errors.js'

/** `--bootstrap`'s checks (apart from node.ts, so reading settings does not load the DHT engine). */

export const MAX_BOOTSTRAP_NODES = 32
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/

/** `--bootstrap`'s list: HOST:PORT entries (IPv4 or a host name: the DHT speaks IPv4), comma-separated or repeated. */
export function parseBootstrap(list: string | readonly string[]): string[] {
  const items = (typeof list === 'string' ? [list] : list)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (items.length === 0) throw new P2PError('E_USAGE', '--bootstrap needs at least one HOST:PORT')
  if (items.length > MAX_BOOTSTRAP_NODES)
    throw new P2PError('E_USAGE', `--bootstrap lists ${items.length} nodes, at most ${MAX_BOOTSTRAP_NODES}`)
  return [...new Set(items.map(checkNode))]
}

function checkNode(text: string): string {
  const bad = (why: string): P2PError =>
    new P2PError('E_USAGE', `invalid bootstrap node ${JSON.stringify(text.slice(0, 80))}: ${why} (expected HOST:PORT)`)
  const at = text.lastIndexOf(':')
  if (at < 0) throw bad('no port')
  const host = text.slice(0, at)
  const port = text.slice(at + 1)
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    throw bad('the port must be a number from 1 to 65535')
  const name = host.endsWith('.') ? host.slice(0, -1) : host
  const labels = name.split('.')
  const isName = name.length > 0 && name.length <= 253 && !labels.every((l) => /^\d+$/.test(l))
  if (!isIPv4(host) && !(isName && labels.every((l) => LABEL.test(l))))
    throw bad('not an IPv4 address or host name (the DHT speaks IPv4)')
  return `${host.toLowerCase()}:${Number(port)}`
}
