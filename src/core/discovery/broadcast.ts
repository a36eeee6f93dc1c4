import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os'
import type { BroadcastSetting } from '../config.js'

/**
 * The addresses announcements and queries go to. "auto" means the directed
 * broadcast address of every up, non-loopback IPv4 interface (as Syncthing
 * does), so a multi-homed host — VPN, container bridge, second NIC — reaches
 * every LAN it is on; a host with none of them falls back to the limited
 * broadcast address. An explicit list is used as given.
 */
export function resolveBroadcast(
  setting: BroadcastSetting,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  if (setting !== 'auto') return [...new Set(setting)]
  const out = new Set<string>()
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.family !== 'IPv4' || info.internal) continue
      out.add(directedBroadcast(info.address, info.netmask))
    }
  }
  return out.size > 0 ? [...out] : [LIMITED_BROADCAST]
}

export const LIMITED_BROADCAST = '255.255.255.255'

/** address | ~netmask, e.g. 192.168.1.20/255.255.255.0 → 192.168.1.255. */
export function directedBroadcast(address: string, netmask: string): string {
  const a = address.split('.').map(Number)
  const m = netmask.split('.').map(Number)
  return a.map((octet, i) => (octet | (~m[i]! & 255)) >>> 0).join('.')
}
