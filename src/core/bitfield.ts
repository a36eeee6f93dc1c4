/**
 * Which chunks a peer has: bit i is chunk i, most significant bit first within
 * each byte (as BitTorrent's bitfield). Spare bits in the last byte are zero.
 */
export class Bitfield {
  readonly length: number
  readonly bytes: Uint8Array

  constructor(length: number, bytes?: Uint8Array) {
    this.length = length
    const size = Math.ceil(length / 8)
    this.bytes = bytes ? bytes : new Uint8Array(size)
    if (this.bytes.length !== size) throw new RangeError(`bitfield of ${length} bits needs ${size} bytes, got ${this.bytes.length}`)
  }

  static full(length: number): Bitfield {
    const field = new Bitfield(length)
    for (let i = 0; i < length; i++) field.set(i)
    return field
  }

  get(index: number): boolean {
    if (index < 0 || index >= this.length) return false
    return (this.bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0
  }

  set(index: number, value = true): void {
    if (index < 0 || index >= this.length) throw new RangeError(`bit ${index} out of range 0..${this.length - 1}`)
    if (value) this.bytes[index >> 3]! |= 0x80 >> (index & 7)
    else this.bytes[index >> 3]! &= ~(0x80 >> (index & 7))
  }

  count(): number {
    let n = 0
    for (let i = 0; i < this.length; i++) if (this.get(i)) n++
    return n
  }

  isComplete(): boolean {
    return this.count() === this.length
  }

  /** True when no bit past `length` is set (a peer's encoding is canonical). */
  hasCleanTail(): boolean {
    const spare = this.bytes.length * 8 - this.length
    if (spare === 0) return true
    const last = this.bytes[this.bytes.length - 1]!
    return (last & ((1 << spare) - 1)) === 0
  }

  toBase64(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('base64')
  }

  static fromBase64(length: number, text: string): Bitfield {
    return new Bitfield(length, new Uint8Array(Buffer.from(text, 'base64')))
  }

  indices(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.length; i++) if (this.get(i)) out.push(i)
    return out
  }
}
