/**
 * Which chunks a peer has: bit i is chunk i, most significant bit first within
 * each byte (as BitTorrent's bitfield). Spare bits in the last byte are zero.
 *
 * Every operation works a byte at a time (a 2^24-chunk field is 2 MiB: bit by
 * bit it costs tens of milliseconds, byte by byte a few). A field made by
 * `full()` holds no bytes until one is cleared, so "has everything" costs
 * nothing whatever the length a peer claims.
 */

/** Set bits in each byte value. */
const POPCOUNT = (() => {
  const table = new Uint8Array(256)
  for (let i = 1; i < 256; i++) table[i] = (i & 1) + table[i >> 1]!
  return table
})()

/** Set bits in a 32-bit word (the classic SWAR count). */
function popcount32(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555)
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24
}

/** The whole 4-byte words at the start of `bytes` when it is 4-byte aligned (most are; else none: bytes one by one). */
function wordsOf(bytes: Uint8Array): Uint32Array {
  return bytes.byteOffset % 4 === 0
    ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2)
    : new Uint32Array(0)
}

/** The valid bits of the last byte of a `length`-bit field (0xff when it is whole). */
const lastByteMask = (length: number): number => (length % 8 === 0 ? 0xff : (0xff00 >> (length % 8)) & 0xff)

const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** Stands for "every bit set" in place of the bytes (module-private: only `full()` makes one). */
const FULL: unique symbol = Symbol('full')

export class Bitfield {
  readonly length: number
  /** undefined: every bit is set and no byte has been needed yet. */
  private stored: Uint8Array | undefined
  /** Bumped by every `set` or `setBytes` that changes a bit: a reader that keeps the field tells a change without a copy. */
  changes = 0

  constructor(length: number, bytes?: Uint8Array | typeof FULL) {
    this.length = length
    if (bytes === FULL) return
    const size = Math.ceil(length / 8)
    this.stored = bytes ?? new Uint8Array(size)
    if (this.stored.length !== size)
      throw new RangeError(`bitfield of ${length} bits needs ${size} bytes, got ${this.stored.length}`)
  }

  /** Every bit set; no memory until a bit is cleared or `bytes` is read. */
  static full(length: number): Bitfield {
    return new Bitfield(length, FULL)
  }

  static fromBase64(length: number, text: string): Bitfield {
    return new Bitfield(length, new Uint8Array(Buffer.from(text, 'base64')))
  }

  /** The bytes (made on first use for a `full()` field). */
  get bytes(): Uint8Array {
    if (this.stored === undefined) {
      const bytes = new Uint8Array(Math.ceil(this.length / 8)).fill(0xff)
      if (bytes.length > 0) bytes[bytes.length - 1] = lastByteMask(this.length)
      this.stored = bytes
    }
    return this.stored
  }

  /** Bytes of memory this field holds (0 for a `full()` one never written to). */
  get heldBytes(): number {
    return this.stored?.length ?? 0
  }

  get(index: number): boolean {
    if (index < 0 || index >= this.length) return false
    if (this.stored === undefined) return true
    return (this.stored[index >> 3]! & (0x80 >> (index & 7))) !== 0
  }

  set(index: number, value = true): void {
    if (index < 0 || index >= this.length) throw new RangeError(`bit ${index} out of range 0..${this.length - 1}`)
    if (this.stored === undefined && value) return
    const bytes = this.bytes
    const before = bytes[index >> 3]!
    if (value) bytes[index >> 3]! |= 0x80 >> (index & 7)
    else bytes[index >> 3]! &= ~(0x80 >> (index & 7))
    if (bytes[index >> 3] !== before) this.changes++
  }

  count(): number {
    const bytes = this.stored
    if (bytes === undefined) return this.length
    const words = wordsOf(bytes)
    let n = 0
    for (let i = 0; i < words.length; i++) n += popcount32(words[i]!)
    for (let i = words.length * 4; i < bytes.length; i++) n += POPCOUNT[bytes[i]!]!
    return n
  }

  isComplete(): boolean {
    return this.stored === undefined || isAllSet(this.stored, lastByteMask(this.length))
  }

  /** True when no bit past `length` is set (a peer's encoding is canonical). */
  hasCleanTail(): boolean {
    const bytes = this.stored
    if (bytes === undefined || bytes.length === 0) return true
    return (bytes[bytes.length - 1]! & ~lastByteMask(this.length) & 0xff) === 0
  }

  /**
   * Overwrite bytes [fromByte, fromByte + bytes.length) (bits 8 × fromByte on),
   * as a slice of a peer's announcement does; returns true if any bit changed.
   * The slice must lie inside the field and set no bit past `length`.
   */
  setBytes(fromByte: number, bytes: Uint8Array): boolean {
    const size = this.checkSlice(fromByte, bytes)
    const target =
      this.stored === undefined && isAllSet(bytes, fromByte + bytes.length === size ? lastByteMask(this.length) : 0xff)
        ? undefined // already all set: nothing to store
        : this.bytes.subarray(fromByte, fromByte + bytes.length)
    if (target === undefined || view(target).equals(view(bytes))) return false
    target.set(bytes)
    this.changes++
    return true
  }

  /** As `setBytes`, but only sets the slice's bits, never clears one; returns true if any bit changed. */
  addBytes(fromByte: number, bytes: Uint8Array): boolean {
    this.checkSlice(fromByte, bytes)
    const into = this.stored
    if (into === undefined) return false
    let changed = false
    for (let i = 0; i < bytes.length; i++) {
      const before = into[fromByte + i]!
      const after = before | bytes[i]!
      if (after !== before) {
        into[fromByte + i] = after
        changed = true
      }
    }
    if (changed) this.changes++
    return changed
  }

  /** Throws unless `bytes` at `fromByte` lies inside the field and sets no bit past `length`; returns the field's size in bytes. */
  private checkSlice(fromByte: number, bytes: Uint8Array): number {
    const size = Math.ceil(this.length / 8)
    if (!Number.isInteger(fromByte) || fromByte < 0 || fromByte + bytes.length > size) {
      throw new RangeError(`bytes ${fromByte}..${fromByte + bytes.length} outside a ${size}-byte bitfield`)
    }
    if (
      bytes.length > 0 &&
      fromByte + bytes.length === size &&
      (bytes[bytes.length - 1]! & ~lastByteMask(this.length) & 0xff) !== 0
    ) {
      throw new RangeError('slice sets bits past the end of the bitfield')
    }
    return size
  }

  /** A field of its own with the same bits (a `full()` one stays without bytes). */
  copy(): Bitfield {
    return this.stored === undefined ? Bitfield.full(this.length) : new Bitfield(this.length, this.stored.slice())
  }

  /** Set every bit `other` has (a field of the same length); returns true if any bit changed. */
  add(other: Bitfield): boolean {
    if (other.length !== this.length) throw new RangeError(`adding ${other.length} bits to ${this.length}`)
    if (this.stored === undefined) return false
    if (other.stored === undefined) {
      if (this.isComplete()) return false
      this.stored = undefined
      this.changes++
      return true
    }
    const into = this.stored
    const from = other.stored
    let changed = false
    for (let i = 0; i < into.length; i++) {
      const before = into[i]!
      const after = before | from[i]!
      if (after !== before) {
        into[i] = after
        changed = true
      }
    }
    if (changed) this.changes++
    return changed
  }

  toBase64(): string {
    return view(this.bytes).toString('base64')
  }

  indices(): number[] {
    const out: number[] = []
    if (this.stored === undefined) {
      for (let i = 0; i < this.length; i++) out.push(i)
      return out
    }
    const bytes = this.stored
    for (let b = 0; b < bytes.length; b++) {
      const byte = bytes[b]!
      if (byte === 0) continue
      for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) out.push(b * 8 + bit)
    }
    return out
  }
}

/** Every byte 0xff, the last one equal to `lastMask`. */
function isAllSet(bytes: Uint8Array, lastMask: number): boolean {
  if (bytes.length === 0) return true
  const last = bytes.length - 1
  const words = wordsOf(bytes.subarray(0, last))
  for (let i = 0; i < words.length; i++) if (words[i] !== 0xffffffff) return false
  for (let i = words.length * 4; i < last; i++) if (bytes[i] !== 0xff) return false
  return bytes[last] === lastMask
}
