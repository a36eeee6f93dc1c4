import { Bitfield } from '../../src/core/bitfield.js'
import type { LocalFile } from '../../src/core/discovery/announcement-encode.js'

/** The announcing peer's ID. */
export const PEER = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
/** A content ID made of `n`. */
export const id = (n: number): string => n.toString(16).padStart(64, '0')

/** File `n` of `chunks` 4 KiB chunks, holding the chunks `bits` picks. */
export function file(n: number, chunks: number, bits: (i: number) => boolean, name = `file ${n}.bin`): LocalFile {
  const have = new Bitfield(chunks)
  for (let i = 0; i < chunks; i++) if (bits(i)) have.set(i)
  return { id: id(n), name, size: chunks * 4096, have }
}
