import { Bitfield } from '../../src/core/bitfield.js'

/** A have-set of `length` chunks holding `indices`. */
export const bits = (length: number, indices: number[]): Bitfield => {
  const b = new Bitfield(length)
  for (const i of indices) b.set(i)
  return b
}
/** A have-set holding all `length` chunks. */
export const all = (length: number): Bitfield => Bitfield.full(length)
