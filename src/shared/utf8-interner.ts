// Turns short UTF-8 byte ranges that repeat (event types, field names) into one shared string
// each, so the hot path neither allocates a new string per event nor makes V8 internalise a fresh
// one every time it is used as a property name. A miss decodes the bytes and takes their slot, the
// slot's string moving to the slot's pair.
import { sameBytes } from './byte-ranges.js';
import type { Utf8Buffer } from './utf8-buffer.js';

const SLOTS = 256;
/** Longer byte ranges are decoded every time (they are rarely repeated names). */
const MAX_BYTES = 64;

export class Utf8Interner {
  private readonly texts: string[] = new Array<string>(SLOTS).fill('');
  private readonly bytes: Uint8Array[] = Array.from({ length: SLOTS }, () => new Uint8Array(0));

  /** The string whose UTF-8 encoding is buf[start, end). */
  intern(buf: Utf8Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_BYTES) return buf.utf8Slice(start, end);
    if (length === 0) return '';
    // The slot comes from the length and four sampled bytes, not all of them: the bytes are
    // compared anyway, and names that share all five only take turns in one slot.
    let h = Math.imul(length, 0x9e3779b1) ^ buf[start]!;
    h = Math.imul(h, 31) ^ buf[end - 1]!;
    h = Math.imul(h, 31) ^ buf[start + (length >> 1)]!;
    h = Math.imul(h, 31) ^ buf[start + (length >> 2)]!;
    const slot = (h ^ (h >>> 11)) & (SLOTS - 1);
    const { bytes, texts } = this;
    const known = bytes[slot]!;
    if (known.length === length && sameBytes(known, 0, buf, start, length)) return texts[slot]!;
    // Two-way: the slot's pair holds the string the slot last held, so two names that share a slot
    // (and alternate, as an operator and a path of one document may) both stay.
    const pair = slot ^ 1;
    const other = bytes[pair]!;
    if (other.length === length && sameBytes(other, 0, buf, start, length)) return texts[pair]!;
    const text = buf.utf8Slice(start, end);
    bytes[pair] = known;
    texts[pair] = texts[slot]!;
    bytes[slot] = Uint8Array.prototype.slice.call(buf, start, end);
    texts[slot] = text;
    return text;
  }
}
