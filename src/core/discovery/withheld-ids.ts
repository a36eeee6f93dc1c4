/**
 * Ids an announcer leaves out of its bursts and answers (announcer.ts
 * `withhold`), each for as long as any of its holds lasts. Every hold has
 * exactly one release, which may be called any number of times and counts
 * once; the last release of an id calls `onReleased`.
 */
export class WithheldIds {
  private readonly holds = new Map<string, number>()

  constructor(private readonly onReleased: (id: string) => void) {}

  has(id: string): boolean {
    return this.holds.has(id)
  }

  hold(id: string): () => void {
    this.holds.set(id, (this.holds.get(id) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = this.holds.get(id)! - 1
      if (left > 0) return void this.holds.set(id, left)
      this.holds.delete(id)
      this.onReleased(id)
    }
  }
}
