// Turns short UTF-8 byte ranges that repeat (event types, field names) into one shared string
// each, so the hot path neither allocates a new string per event nor makes V8 internalise a fresh
// one every time it is used as a property name. Direct-mapped: a slot holds the last string whose
// bytes hashed to it; a miss decodes and takes the slot.
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
    let h = length;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
    const slot = (h ^ (h >>> 8)) & (SLOTS - 1);
    const known = this.bytes[slot]!;
    if (known.length === length && sameBytes(known, 0, buf, start, length)) return this.texts[slot]!;
    const text = buf.utf8Slice(start, end);
    this.bytes[slot] = Uint8Array.prototype.slice.call(buf, start, end);
    this.texts[slot] = text;
    return text;
  }
}
