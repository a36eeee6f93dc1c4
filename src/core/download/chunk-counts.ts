import type { Bitfield } from '../bitfield.js'

/**
 * How many live peers hold each chunk, kept up to date as have-sets change:
 * the one owner of these counts (chunk-choice.ts reads them for its rarity
 * order, its endgame and the chunks nobody has).
 *
 * Counting afresh costs every chunk × every peer, and any peer can make us
 * count again by changing one bit of its claim, ten times a second (a
 * 480,000-chunk file and 256 peers: close to a second of CPU each time).
 * Instead each peer's contribution is a copy of the bits last counted (a
 * byte per 8 chunks: 60 KB at 480,000; none for a peer holding every chunk);
 * a change is compared with it a 32-bit word at a time, and only the chunks
 * of words that differ are counted again. A peer flipping one bit costs a
 * scan of its own have-set (a word per 32 chunks) and one count; a peer
 * joining costs the chunks it holds, and leaving what it holds then; except
 * a peer that joins holding every chunk: it is counted once for all chunks
 * (`complete`) and per chunk only for what it lacks later, so a seeder, or a
 * flood of fake peers each claiming the whole file (which cost no have-set
 * to make: dictionary-room.ts), joins and leaves at no cost per chunk, and
 * any change still costs the bits that differ.
 *
 * Two counts per chunk:
 * - holders: unbanned peers whose have-set lists it (what "rarest" means);
 * - usable: of those, the ones that may still be asked for it (not written
 *   off, and did not say "not found" for it).
 */

/** What the counts read of a peer. */
export interface Holder {
  readonly have: Bitfield
  readonly banned: string | undefined
  /** Given up on (peer-record.ts): it holds nothing we may ask for. */
  readonly writtenOff: boolean
  /** Chunks it said "not found" for; none until the first. */
  readonly denials: Bitfield | undefined
}

/** A peer as last counted: what it was, and the bits it added to each count. */
interface Counted {
  holder: Holder
  have: Bitfield
  haveChanges: number
  denials: Bitfield | undefined
  denialChanges: number
  banned: boolean
  writtenOff: boolean
  /** Its bits in `holders` (copies we own, or the shared all-ones or empty field: never written after being made). */
  held: Uint8Array
  /** Its bits in `usable`: `held` itself while it denied nothing, none once written off. */
  usable: Uint8Array
  /** Chunks in `held`. */
  heldCount: number
  /** What its bits were counted from when it joined (`all`: it is in `complete`, and per chunk only what it lacks). */
  base: { holders: Uint8Array; usable: Uint8Array }
}

export class ChunkCounts {
  /** Per chunk: peers' bits counted from none, less one for each counted from all that lacks it (`complete` counts those): signed. */
  private readonly holders: Int32Array
  private readonly usable: Int32Array
  private readonly complete = { holders: 0, usable: 0 }
  private readonly counted = new Map<string, Counted>()
  /** Peers whose have-set was counted anew (joined or changed) since `takeChanged`. */
  private changed = new Set<string>()
  /** The bits of a peer holding every chunk, and of one holding none (shared: a seeder costs no copy). */
  private readonly all: Uint8Array
  private readonly none: Uint8Array

  constructor(readonly count: number) {
    this.holders = new Int32Array(count)
    this.usable = new Int32Array(count)
    const size = Math.ceil(count / 8)
    this.none = new Uint8Array(size)
    this.all = new Uint8Array(size).fill(0xff)
    if (count % 8 !== 0) this.all[size - 1] = (0xff00 >> (count % 8)) & 0xff
  }

  /** Unbanned peers whose have-set lists the chunk, as of the last `refresh`. */
  holdersOf(index: number): number {
    return this.holders[index]! + this.complete.holders
  }

  /** Of those, the ones that may still be asked for it, as of the last `refresh`. */
  usableOf(index: number): number {
    return this.usable[index]! + this.complete.usable
  }

  /** Chunks the peer's have-set lists, as of the last `refresh` (0 for a banned or unknown peer). */
  heldBy(key: string): number {
    return this.counted.get(key)?.heldCount ?? 0
  }

  /** The peers whose have-set was counted anew since the last call (a walk through the order they may need to start again). */
  takeChanged(): Set<string> {
    const changed = this.changed
    this.changed = new Set()
    return changed
  }

  /**
   * Brings the counts to `peers` as they are now (they may have changed in
   * place since the last call): a look at each peer, and work only for those
   * that changed, joined or left.
   */
  refresh(peers: ReadonlyMap<string, Holder>): void {
    for (const [key, entry] of this.counted) {
      if (peers.get(key) === entry.holder) continue
      this.move(entry, entry.base.holders, entry.base.usable)
      if (entry.base.holders === this.all) this.complete.holders--
      if (entry.base.usable === this.all) this.complete.usable--
      this.counted.delete(key)
    }
    for (const [key, holder] of peers) {
      const entry = this.counted.get(key)
      if (entry === undefined) {
        this.counted.set(key, this.add(holder))
        this.changed.add(key)
      } else if (!isCurrent(entry)) {
        // Its have-set changed, or its denials lapsed (chunks behind its walk it may hold again): it walks anew.
        const lapsed = entry.denials !== undefined && holder.denials === undefined
        if (entry.have !== holder.have || entry.haveChanges !== holder.have.changes || lapsed) this.changed.add(key)
        this.update(entry)
      }
    }
  }

  private add(holder: Holder): Counted {
    const entry: Counted = {
      holder,
      have: holder.have,
      haveChanges: -1,
      denials: undefined,
      denialChanges: -1,
      banned: false,
      writtenOff: false,
      held: this.none,
      usable: this.none,
      heldCount: 0,
      base: { holders: this.none, usable: this.none },
    }
    const bits = this.bitsFor(holder)
    const { held, usable } = bits
    if (held === this.all) {
      this.complete.holders++
      entry.held = entry.base.holders = this.all
      entry.heldCount = this.count
    }
    if (usable === this.all) {
      this.complete.usable++
      entry.usable = entry.base.usable = this.all
    }
    this.update(entry, bits)
    return entry
  }

  /** Counts the peer's bits as they are now in place of those last counted. */
  /** `bits`: the peer's, when just made (a partial have-set's are a copy: made once). */
  private update(entry: Counted, bits = this.bitsFor(entry.holder)): void {
    const { holder } = entry
    this.move(entry, bits.held, bits.usable)
    entry.have = holder.have
    entry.haveChanges = holder.have.changes
    entry.denials = holder.denials
    entry.denialChanges = holder.denials?.changes ?? -1
    entry.banned = holder.banned !== undefined
    entry.writtenOff = holder.writtenOff
  }

  /** The peer's bits in each count as it is now. */
  private bitsFor(holder: Holder): { held: Uint8Array; usable: Uint8Array } {
    const banned = holder.banned !== undefined
    const held = banned ? this.none : this.bitsOf(holder.have)
    return { held, usable: banned || holder.writtenOff ? this.none : withoutDenials(held, holder.denials) }
  }

  /** Counts the bits that differ between what the peer was counted with and `held`/`usable` (from either base). */
  private move(entry: Counted, held: Uint8Array, usable: Uint8Array): void {
    if (held !== entry.held) entry.heldCount += recount(this.holders, entry.held, held)
    if (usable !== entry.usable) recount(this.usable, entry.usable, usable)
    entry.held = held
    entry.usable = usable
  }

  /** A copy of the field's bits (a field of every chunk is never made to hold bytes: bitfield.ts). */
  private bitsOf(have: Bitfield): Uint8Array {
    if (have.length !== this.count) throw new RangeError(`have-set of ${have.length} chunks, not ${this.count}`)
    if (have.heldBytes === 0) return have.length === 0 ? this.none : this.all
    return have.isComplete() ? this.all : have.bytes.slice()
  }
}

function isCurrent(entry: Counted): boolean {
  const { holder } = entry
  return (
    holder.have === entry.have &&
    holder.have.changes === entry.haveChanges &&
    holder.denials === entry.denials &&
    (holder.denials?.changes ?? -1) === entry.denialChanges &&
    (holder.banned !== undefined) === entry.banned &&
    holder.writtenOff === entry.writtenOff
  )
}

/** `held` less the chunks denied (`held` itself when none are). */
function withoutDenials(held: Uint8Array, denials: Bitfield | undefined): Uint8Array {
  if (denials === undefined || denials.count() === 0) return held
  const denied = denials.bytes
  const out = new Uint8Array(held.length)
  for (let i = 0; i < out.length; i++) out[i] = held[i]! & ~denied[i]!
  return out
}

/** The whole 32-bit words of a field we made (its own buffer, so aligned). */
const wordsOf = (bytes: Uint8Array): Uint32Array => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2)

/**
 * `counts` moved from bits `before` to bits `after`: words that are equal
 * are skipped, and in the others each bit that differs adds or takes one.
 * Returns the change in set bits. Both are arrays made here (4-byte aligned).
 */
function recount(counts: Int32Array, before: Uint8Array, after: Uint8Array): number {
  const was = wordsOf(before)
  const now = wordsOf(after)
  let delta = 0
  for (let w = 0; w < was.length; w++) {
    if (was[w] === now[w]) continue
    for (let b = w * 4; b < w * 4 + 4; b++) delta += recountByte(counts, b, before[b]!, after[b]!)
  }
  for (let b = was.length * 4; b < before.length; b++) delta += recountByte(counts, b, before[b]!, after[b]!)
  return delta
}

/** Byte `b` went from `was` to `now` (bit 0x80 is chunk 8b: bitfield.ts). */
function recountByte(counts: Int32Array, b: number, was: number, now: number): number {
  let delta = 0
  for (let changed = was ^ now; changed !== 0; changed &= changed - 1) {
    const bit = changed & -changed // the lowest bit that differs
    const index = b * 8 + 7 - (31 - Math.clz32(bit))
    if (now & bit) {
      counts[index]!++
      delta++
    } else {
      counts[index]!--
      delta--
    }
  }
  return delta
}
