// Turns short UTF-8 byte ranges that repeat (event types, field names, low-cardinality string
// values such as zones or hunt ids) into one shared string each, so the hot path neither allocates
// a new string per event nor makes V8 internalise a fresh one every time it is used as a property
// name. A hit also skips Buffer's utf8Slice, a C++ call that costs more than the lookup even for
// two bytes (measured: docs/performance.md#measurements-behind-design-decisions). A miss decodes
// the bytes and takes their slot, the slot's string moving to the slot's pair.
//
// Each slot's bytes live in one pooled array (MAX_BYTES per slot), so a miss copies a few bytes
// instead of allocating: ranges that never repeat (player keys as values) cost little extra.
import { sameBytes } from './byte-ranges.js';
import type { Utf8Buffer } from './utf8-buffer.js';

const DEFAULT_SLOTS = 256;
/** Longer byte ranges are decoded every time (they are rarely repeated). */
const MAX_BYTES = 64;

export class Utf8Interner {
  private readonly texts: string[];
  /** Per slot: the byte length of its string (-1: empty slot). */
  private readonly lengths: Int32Array;
  /** Slot i's bytes at [i * MAX_BYTES, i * MAX_BYTES + lengths[i]). */
  private readonly pool: Uint8Array;
  private readonly mask: number;

  /** `slots`: a power of two, at least 2. */
  constructor(slots = DEFAULT_SLOTS) {
    if (!(slots >= 2 && (slots & (slots - 1)) === 0)) throw new RangeError(`interner slots must be a power of two ≥ 2, got ${slots}`);
    this.texts = new Array<string>(slots).fill('');
    this.lengths = new Int32Array(slots).fill(-1);
    this.pool = new Uint8Array(slots * MAX_BYTES);
    this.mask = slots - 1;
  }

  /** The string whose UTF-8 encoding is buf[start, end). */
  intern(buf: Utf8Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_BYTES) return buf.utf8Slice(start, end);
    if (length === 0) return '';
    // The slot comes from the length and four sampled bytes, not all of them: the bytes are
    // compared anyway, and strings that share all five only take turns in one slot.
    let h = Math.imul(length, 0x9e3779b1) ^ buf[start]!;
    h = Math.imul(h, 31) ^ buf[end - 1]!;
    h = Math.imul(h, 31) ^ buf[start + (length >> 1)]!;
    h = Math.imul(h, 31) ^ buf[start + (length >> 2)]!;
    const slot = (h ^ (h >>> 11)) & this.mask;
    const { lengths, pool, texts } = this;
    if (lengths[slot] === length && sameBytes(pool, slot * MAX_BYTES, buf, start, length)) return texts[slot]!;
    // Two-way: the slot's pair holds the string the slot last held, so two strings that share a
    // slot (and alternate, as an operator and a path of one document may) both stay.
    const pair = slot ^ 1;
    if (lengths[pair] === length && sameBytes(pool, pair * MAX_BYTES, buf, start, length)) return texts[pair]!;
    const text = buf.utf8Slice(start, end);
    const slotAt = slot * MAX_BYTES;
    const pairAt = pair * MAX_BYTES;
    const moved = lengths[slot]!;
    for (let i = 0; i < moved; i++) pool[pairAt + i] = pool[slotAt + i]!;
    lengths[pair] = moved;
    texts[pair] = texts[slot]!;
    for (let i = 0; i < length; i++) pool[slotAt + i] = buf[start + i]!;
    lengths[slot] = length;
    texts[slot] = text;
    return text;
  }
}
