// A growable scratch buffer that writes the few binary shapes our records use — little-endian
// numbers, length-prefixed UTF-8 and standard MessagePack — without a call into msgpackr or the
// UTF-8 encoder for the common small cases (ASCII names, numbers, short strings, flat maps). In the
// partition worker's commit these calls dominated the cost of encoding a metadata record.
//
// Whatever it does not handle itself (arrays, nested maps, binary, non-ASCII text) goes through
// msgpackr or Buffer's own UTF-8 encoder, so the output is always standard MessagePack.
import { copyBytesInto } from './byte-ranges.js';
import { msgpack } from './msgpack.js';
import type { Utf8Buffer } from './utf8-buffer.js';

/** Strings up to this many UTF-16 units are tried as ASCII byte by byte. */
const SHORT_STRING = 64;

export class BinaryWriter {
  private buf: Utf8Buffer;
  private view: DataView;
  /** Bytes written so far. */
  length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes) as Utf8Buffer;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  reset(): void {
    this.length = 0;
  }

  /** Where the bytes are written ([0, length) since the last reset); valid until the next write. */
  get buffer(): Buffer {
    return this.buf;
  }

  /** The bytes written since the last reset; valid until the next write. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buf[this.length++] = value;
  }

  u16le(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  u32le(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64le(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** Patches a u32 written earlier (a count known only after its items). */
  setU32le(at: number, value: number): void {
    this.view.setUint32(at, value, true);
  }

  /** u16 byte length, then the UTF-8 bytes. */
  lengthPrefixedUtf8(text: string): void {
    this.ensure(2 + text.length * 3);
    const at = this.length;
    this.length += 2;
    const bytes = this.utf8(text);
    this.view.setUint16(at, bytes, true);
  }

  /**
   * Standard MessagePack of a plain object's own enumerable properties (a map), in one pass over
   * them: the entries are written after a one-byte header, which is patched once they are counted
   * (and, for 16 entries or more, widened by moving the entries up). Undefined properties are left
   * out, as JSON.stringify leaves them out (msgpackr would write its own extension for them).
   */
  msgpackMap(map: Record<string, unknown>): void {
    this.ensure(1);
    const headerAt = this.length++;
    let size = 0;
    for (const name in map) {
      if (!Object.hasOwn(map, name) || map[name] === undefined) continue;
      this.msgpackString(name);
      this.msgpackValue(map[name]);
      size++;
    }
    if (size < 16) {
      this.buf[headerAt] = 0x80 | size;
      return;
    }
    const wider = size < 0x10000 ? 2 : 4;
    this.ensure(wider);
    this.buf.copyWithin(headerAt + 1 + wider, headerAt + 1, this.length);
    const end = this.length + wider;
    this.length = headerAt;
    this.msgpackMapHeader(size);
    this.length = end;
  }

  /** The header of a map of `size` entries; the caller writes the keys and values. */
  msgpackMapHeader(size: number): void {
    this.collectionHeader(size, 0x80, 0xde, 0xdf);
  }

  /** The header of an array of `size` items; the caller writes them. */
  msgpackArrayHeader(size: number): void {
    this.collectionHeader(size, 0x90, 0xdc, 0xdd);
  }

  msgpackValue(value: unknown): void {
    switch (typeof value) {
      case 'number':
        return this.msgpackNumber(value);
      case 'string':
        return this.msgpackString(value);
      case 'boolean':
        return this.u8(value ? 0xc3 : 0xc2);
      default:
        // undefined (an array hole) is nil, as JSON.stringify makes it null.
        if (value === null || value === undefined) return this.u8(0xc0);
        if (Array.isArray(value)) {
          this.msgpackArrayHeader(value.length);
          for (let i = 0; i < value.length; i++) this.msgpackValue(value[i]);
          return;
        }
        if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return this.msgpackMap(value as Record<string, unknown>);
        return this.rawBytes(msgpack.pack(value));
    }
  }

  /** fix (size < 16), 16-bit or 32-bit header of a map or an array. */
  private collectionHeader(size: number, fix: number, with16: number, with32: number): void {
    this.ensure(5);
    if (size < 16) this.buf[this.length++] = fix | size;
    else if (size < 0x10000) {
      this.buf[this.length] = with16;
      this.view.setUint16(this.length + 1, size);
      this.length += 3;
    } else {
      this.buf[this.length] = with32;
      this.view.setUint32(this.length + 1, size);
      this.length += 5;
    }
  }

  private msgpackNumber(value: number): void {
    this.ensure(9);
    const buf = this.buf;
    const at = this.length;
    if (value >>> 0 === value) {
      if (value < 0x80) {
        buf[at] = value;
        this.length += 1;
      } else if (value < 0x100) {
        buf[at] = 0xcc;
        buf[at + 1] = value;
        this.length += 2;
      } else if (value < 0x10000) {
        buf[at] = 0xcd;
        this.view.setUint16(at + 1, value);
        this.length += 3;
      } else {
        buf[at] = 0xce;
        this.view.setUint32(at + 1, value);
        this.length += 5;
      }
    } else if (value >> 0 === value) {
      if (value >= -32) {
        buf[at] = value & 0xff;
        this.length += 1;
      } else if (value >= -0x80) {
        buf[at] = 0xd0;
        buf[at + 1] = value & 0xff;
        this.length += 2;
      } else if (value >= -0x8000) {
        buf[at] = 0xd1;
        this.view.setInt16(at + 1, value);
        this.length += 3;
      } else {
        buf[at] = 0xd2;
        this.view.setInt32(at + 1, value);
        this.length += 5;
      }
    } else if (Number.isSafeInteger(value)) {
      // An integer stays one on the wire (encoders in other languages tell ints from floats),
      // in the same 9 bytes a float64 takes.
      const high = Math.floor(value / 0x1_0000_0000);
      buf[at] = value < 0 ? 0xd3 : 0xcf;
      this.view.setInt32(at + 1, high);
      this.view.setUint32(at + 5, value - high * 0x1_0000_0000);
      this.length += 9;
    } else {
      buf[at] = 0xcb;
      this.view.setFloat64(at + 1, value);
      this.length += 9;
    }
  }

  msgpackString(text: string): void {
    const n = text.length;
    this.ensure(5 + n * 3);
    const at = this.length;
    // ASCII, the common case: the byte length is the string length, so the header is known first.
    const asciiHeader = n < 32 ? 1 : 2;
    if (n <= SHORT_STRING && this.writeAscii(text, at + asciiHeader)) {
      this.msgpackStringHeader(at, n);
      this.length = at + asciiHeader + n;
      return;
    }
    const bytes = Buffer.byteLength(text);
    const header = this.msgpackStringHeader(at, bytes);
    this.length = at + header + this.buf.utf8Write(text, at + header);
  }

  /** Writes the header of a string of `bytes` UTF-8 bytes at `at`; returns its size. */
  private msgpackStringHeader(at: number, bytes: number): number {
    const buf = this.buf;
    if (bytes < 32) {
      buf[at] = 0xa0 | bytes;
      return 1;
    }
    if (bytes < 0x100) {
      buf[at] = 0xd9;
      buf[at + 1] = bytes;
      return 2;
    }
    if (bytes < 0x10000) {
      buf[at] = 0xda;
      this.view.setUint16(at + 1, bytes);
      return 3;
    }
    buf[at] = 0xdb;
    this.view.setUint32(at + 1, bytes);
    return 5;
  }

  /** Writes `text` as UTF-8 at the current position (room already ensured); returns its bytes. */
  private utf8(text: string): number {
    const n = text.length;
    const bytes = n <= SHORT_STRING && this.writeAscii(text, this.length) ? n : this.buf.utf8Write(text, this.length);
    this.length += bytes;
    return bytes;
  }

  /** Copies `text` to `at` if it is all ASCII; false (bytes undefined) if it is not. */
  private writeAscii(text: string, at: number): boolean {
    const buf = this.buf;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[at + i] = c;
    }
    return true;
  }

  /** Copies from[start, end): MessagePack taken as it is from a frame. */
  rawRange(from: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    this.length += copyBytesInto(from, start, end, this.buf, this.view, this.length);
  }

  /** A MessagePack string whose UTF-8 bytes are from[start, end). */
  msgpackStringBytes(from: Uint8Array, start: number, end: number): void {
    const bytes = end - start;
    this.ensure(5 + bytes);
    this.length += this.msgpackStringHeader(this.length, bytes);
    this.length += copyBytesInto(from, start, end, this.buf, this.view, this.length);
  }

  /** Copies bytes that are already encoded (e.g. a MessagePack string made once). */
  rawBytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  private ensure(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.length + bytes, this.buf.length * 2)) as Utf8Buffer;
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }
}
