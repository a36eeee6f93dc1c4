import { Bitfield } from '../../src/core/bitfield.js'
import type { AnnouncedFile, Announcement } from '../../src/core/discovery/announcement.js'
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

/** File `n` as an announcement lists it (and a listener reads it): four 4 KiB chunks, all held, unless `o` says otherwise. */
export const entry = (n: number, o: Partial<AnnouncedFile> = {}): AnnouncedFile => ({
  id: id(n),
  name: `f${n}`,
  size: 4 * 4096,
  chunks: 4,
  have: 'all',
  from: 0,
  ...o,
})
/** An announcement by `peer` at `port` of the files numbered `files`, each holding `have`. */
export const announce = (
  peer: string,
  port: number,
  files: number[],
  have: 'all' | Bitfield = 'all',
): Announcement => ({
  type: 'announce',
  peer,
  port,
  files: files.map((n) => entry(n, { have })),
})
