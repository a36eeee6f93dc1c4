/**
 * A binary heap of distinct objects whose order can change while they are in
 * it: the caller says `update(item)` after each change that may move it.
 * `top()` is O(1); `update` and `delete` are O(log n). The content dictionary
 * keeps its richest and most crowded source address this way, so that a
 * newcomer at a cap costs the same whatever the number of addresses (a scan
 * over them cost a flood from 340 addresses 4.4 CPU-s in 30 s).
 */
export class IndexedHeap<T extends object> {
  private readonly items: T[] = []
  private readonly slots = new Map<T, number>()

  /** `before(a, b)`: a belongs nearer the top than b. It must only read what `update` is told of. */
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length
  }

  /** The item nearest the top. */
  top(): T | undefined {
    return this.items[0]
  }

  has(item: T): boolean {
    return this.slots.has(item)
  }

  /** Add `item`, or put it back in its place after its order changed. */
  update(item: T): void {
    const at = this.slots.get(item)
    if (at === undefined) {
      this.items.push(item)
      this.slots.set(item, this.items.length - 1)
      this.up(this.items.length - 1)
    } else if (!this.up(at)) this.down(at)
  }

  delete(item: T): boolean {
    const at = this.slots.get(item)
    if (at === undefined) return false
    this.slots.delete(item)
    const last = this.items.pop()!
    if (at < this.items.length) {
      this.place(last, at)
      if (!this.up(at)) this.down(at)
    }
    return true
  }

  private place(item: T, at: number): void {
    this.items[at] = item
    this.slots.set(item, at)
  }

  /** Move the item at `at` up while it belongs above its parent; whether it moved. */
  private up(at: number): boolean {
    const item = this.items[at]!
    let i = at
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(item, this.items[parent]!)) break
      this.place(this.items[parent]!, i)
      i = parent
    }
    if (i !== at) this.place(item, i)
    return i !== at
  }

  private down(at: number): void {
    const item = this.items[at]!
    const n = this.items.length
    let i = at
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && this.before(this.items[right]!, this.items[left]!) ? right : left
      if (!this.before(this.items[child]!, item)) break
      this.place(this.items[child]!, i)
      i = child
    }
    if (i !== at) this.place(item, i)
  }
}
