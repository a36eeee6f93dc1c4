import bytes from 'bytes'

/** Human sizes and rates, binary units (1 MiB = 1,048,576 bytes). */
export function formatBytes(n: number): string {
  return (bytes.format(n, { decimalPlaces: 1, unitSeparator: ' ' }) ?? `${n} B`).replace(/([KMGTP])B$/, '$1iB')
}

export function formatRate(bytesDone: number, seconds: number): string {
  return seconds > 0 ? `${(bytesDone / seconds / 1e6).toFixed(1)} MB/s` : '– MB/s'
}

export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`
}

export function shortId(id: string): string {
  return id.slice(0, 12)
}
