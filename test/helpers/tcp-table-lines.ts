/**
 * Lines of Linux's table of TCP sockets as net/ipv4/tcp_ipv4.c and
 * net/ipv6/tcp_ipv6.c print them, for the tests of tcp-table.ts and of the
 * poller and graceful end above it: addresses already printed (%08X words),
 * a port %04X, the state %02X, tx_queue:rx_queue %08X:%08X, … the inode.
 */

export const TABLE_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'

const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, '0')

export function tableLine(
  slot: number,
  local: string,
  lport: number,
  remote: string,
  rport: number,
  state: string,
  tx: number,
  inode = 12345,
): string {
  return `${String(slot).padStart(4)}: ${local}:${hex(lport, 4)} ${remote}:${hex(rport, 4)} ${state} ${hex(tx, 8)}:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`
}
