/** "1 chunk", "2 chunks": a count and its noun, which is plural but for one. */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}
