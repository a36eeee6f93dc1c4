import { isIP } from 'node:net'

/**
 * What counts as one host where sources are counted (a chunk server's
 * connections, admission.ts; the manifest race's turns; p2p-listen's listings,
 * fair-listing.ts): an IPv4 address, or a global IPv6 /64 (a
 * host can take any number of addresses in it). Link-local (fe80::/10, with
 * its zone) and unique-local (fc00::/7) addresses count one by one: every
 * host of a LAN shares their /64, so one stranger would use up the limit of
 * every IPv6 downloader there. Anything that is no IP address (a DHT peer's
 * `dht:<peer ID>`) is its own host: read as IPv6, DHT peers fell into one
 * "/64" and the manifest race gave them one turn between them.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return '?'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (isIP(address.split('%')[0]!) !== 6) return address
  const [plain = '', zone] = address.split('%')
  const [head = '', tail] = plain.split('::')
  const front = head ? head.split(':') : []
  const back = tail ? tail.split(':') : []
  const groups =
    tail === undefined
      ? front
      : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  const hex = groups.map((g) => Number.parseInt(g || '0', 16))
  const local = ((hex[0] ?? 0) & 0xffc0) === 0xfe80 || ((hex[0] ?? 0) & 0xfe00) === 0xfc00
  if (local) return `${hex.map((g) => g.toString(16)).join(':')}${zone === undefined ? '' : `%${zone}`}`
  return `${hex
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}
