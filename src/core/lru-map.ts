/**
 * A map that keeps its entries in least-recently-touched order: `touch`
 * inserts or moves an entry to the newest end, `oldest` is the other end,
 * both O(1). A plain Map used that way (delete + set) leaves deleted slots at
 * its front until it rehashes, and reading its first entry skips them all:
 * with an eviction per insertion that turns quadratic (docs/benchmarks.md,
 * "Measurements behind the code"). Here the order is a linked list beside
 * the Map.
 */

interface Node<K, V> {
  key: K
  value: V
  older: Node<K, V> | undefined
  newer: Node<K, V> | undefined
}

/** A map as those who may only read it see it: no touch, no delete. */
export type ReadonlyLruMap<K, V> = Pick<LruMap<K, V>, 'size' | 'get' | 'has' | 'oldest' | 'values' | 'entries'>

export class LruMap<K, V> {
  private readonly nodes = new Map<K, Node<K, V>>()
  private head: Node<K, V> | undefined // oldest
  private tail: Node<K, V> | undefined // newest

  get size(): number {
    return this.nodes.size
  }

  get(key: K): V | undefined {
    return this.nodes.get(key)?.value
  }

  has(key: K): boolean {
    return this.nodes.has(key)
  }

  /** Set `key` to `value` and make it the newest. */
  touch(key: K, value: V): void {
    let node = this.nodes.get(key)
    if (node) {
      node.value = value
      if (node === this.tail) return
      this.unlink(node)
    } else {
      node = { key, value, older: undefined, newer: undefined }
      this.nodes.set(key, node)
    }
    node.older = this.tail
    if (this.tail) this.tail.newer = node
    this.tail = node
    this.head ??= node
  }

  delete(key: K): boolean {
    const node = this.nodes.get(key)
    if (!node) return false
    this.unlink(node)
    this.nodes.delete(key)
    return true
  }

  oldest(): V | undefined {
    return this.head?.value
  }

  deleteOldest(): void {
    if (this.head) this.delete(this.head.key)
  }

  /** Values, oldest first; deleting the current entry while iterating is safe. */
  *values(): IterableIterator<V> {
    for (let node = this.head; node; ) {
      const next = node.newer
      yield node.value
      node = next
    }
  }

  *entries(): IterableIterator<[K, V]> {
    for (let node = this.head; node; ) {
      const next = node.newer
      yield [node.key, node.value]
      node = next
    }
  }

  private unlink(node: Node<K, V>): void {
    if (node.older) node.older.newer = node.newer
    else this.head = node.newer
    if (node.newer) node.newer.older = node.older
    else this.tail = node.older
    node.older = undefined
    node.newer = undefined
  }
}
