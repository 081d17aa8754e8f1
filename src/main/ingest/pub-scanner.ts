// The fast path of the hottest frame: a MessagePack `pub` is checked and indexed in place — where
// each event's key, type, ts and data lie in the frame — instead of being decoded into objects,
// validated, and its data encoded again for the ring. Keys are hashed from their bytes; the ring
// records are then copied from the frame (partition-channel.ts).
//
// It accepts only a plainly valid pub: every field known and present once, ids and seqs as
// non-negative MessagePack integers (any width), keys and types strictly valid UTF-8 within their
// limits, data a map of JSON-like values (no binary or extensions; integers within ±(2^53−1))
// within the depth limit.
// Anything else — an error to report, or merely an unusual encoding — makes `scan` return false,
// and the frame takes the general path (decodeFrame, validate.ts), which gives the exact answer.
// So this path never decides a rejection, and accepts nothing the general path would refuse.
import { isUtf8 } from 'node:buffer';
import { arrayHeaderBytes, collectionSize, mapHeaderBytes, numberBytes, readNumber, stringHeaderBytes, stringLength } from '../../shared/msgpack-scalars.js';
import { fnv1a32Bytes } from '../../shared/partition.js';
import { type Limits } from '../../shared/wire.js';
import { FORBIDDEN_NAMES } from '../../shared/update-ops.js';
import { isAllowedKeyBytes } from '../../shared/event-checks.js';

/** Names the general path refuses as a type or a data field (ASCII, so bytes compare with char codes). */
const FORBIDDEN = [...FORBIDDEN_NAMES];
/** Their lengths, so most names are cleared without a comparison. */
const FORBIDDEN_LENGTHS = new Set(FORBIDDEN.map((name) => name.length));

/** Thrown inside the scan for anything this path does not take; `scan` turns it into false. */
const DECLINED = Symbol('declined');

export class PubScanner {
  /** The request id of the last pub scanned. */
  id = 0;
  /** Its `seq`, or undefined when it has none. */
  seq: number | undefined = undefined;
  /** Its events; per event i, the byte ranges below (in the frame) and its values. */
  count = 0;
  keyStart: Int32Array;
  keyEnd: Int32Array;
  keyHash: Uint32Array;
  typeStart: Int32Array;
  typeEnd: Int32Array;
  /** NaN when the event has no ts. */
  ts: Float64Array;
  /** dataStart === dataEnd when the event has no data. */
  dataStart: Int32Array;
  dataEnd: Int32Array;

  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private at = 0;

  constructor(
    private readonly limits: Limits,
    capacity = limits.maxEventsPerPub,
  ) {
    this.keyStart = new Int32Array(capacity);
    this.keyEnd = new Int32Array(capacity);
    this.keyHash = new Uint32Array(capacity);
    this.typeStart = new Int32Array(capacity);
    this.typeEnd = new Int32Array(capacity);
    this.ts = new Float64Array(capacity);
    this.dataStart = new Int32Array(capacity);
    this.dataEnd = new Int32Array(capacity);
  }

  /** Checks and indexes `frame` as a pub; false when the general path must take it. */
  scan(frame: Uint8Array): boolean {
    this.buf = frame;
    this.view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    this.at = 0;
    try {
      this.pub();
    } catch (error) {
      if (error === DECLINED) return false;
      throw error;
    }
    return this.at === frame.length;
  }

  private pub(): void {
    const fields = this.mapSize();
    let op = false;
    let id = false;
    let events = false;
    this.seq = undefined;
    for (let f = 0; f < fields; f++) {
      const nameLength = this.stringLength();
      const name = this.at;
      this.at += nameLength;
      if (!op && this.isName(name, nameLength, 'op')) {
        op = true;
        const valueLength = this.stringLength();
        if (!this.isName(this.at, valueLength, 'pub')) throw DECLINED;
        this.at += valueLength;
      } else if (!id && this.isName(name, nameLength, 'id')) {
        id = true;
        this.id = this.unsigned();
      } else if (this.seq === undefined && this.isName(name, nameLength, 'seq')) {
        this.seq = this.unsigned();
      } else if (!events && this.isName(name, nameLength, 'events')) {
        events = true;
        this.events();
      } else throw DECLINED;
    }
    if (!op || !id || !events) throw DECLINED;
  }

  private events(): void {
    const count = this.collectionSize(arrayHeaderBytes(this.buf[this.at]!));
    if (count === 0 || count > this.keyStart.length) throw DECLINED;
    this.count = count;
    for (let i = 0; i < count; i++) this.event(i);
  }

  private event(i: number): void {
    const fields = this.mapSize();
    let key = false;
    let type = false;
    let ts = false;
    let data = false;
    for (let f = 0; f < fields; f++) {
      const nameLength = this.stringLength();
      const name = this.at;
      this.at += nameLength;
      if (!key && this.isName(name, nameLength, 'key')) {
        key = true;
        this.key(i);
      } else if (!type && this.isName(name, nameLength, 'type')) {
        type = true;
        this.type(i);
      } else if (!ts && this.isName(name, nameLength, 'ts')) {
        ts = true;
        this.ts[i] = this.finiteNumber();
      } else if (!data && this.isName(name, nameLength, 'data')) {
        data = true;
        if (mapHeaderBytes(this.buf[this.at]!) === 0) throw DECLINED;
        this.dataStart[i] = this.at;
        this.skipValue(1);
        this.dataEnd[i] = this.at;
      } else throw DECLINED;
    }
    if (!key || !type) throw DECLINED;
    if (!ts) this.ts[i] = NaN;
    if (!data) this.dataStart[i] = this.dataEnd[i] = 0;
  }

  private key(i: number): void {
    const length = this.stringLength();
    const start = this.at;
    const end = start + length;
    if (!isAllowedKeyBytes(this.buf, start, end, this.limits)) throw DECLINED;
    this.keyStart[i] = start;
    this.keyEnd[i] = end;
    // The same hash partition.ts computes from the decoded key (valid UTF-8: the same bytes).
    this.keyHash[i] = fnv1a32Bytes(this.buf, start, end);
    this.at = end;
  }

  private type(i: number): void {
    const length = this.stringLength();
    const start = this.at;
    const end = start + length;
    if (length === 0 || length > this.limits.maxTypeBytes || !this.isUtf8(start, end) || this.isForbidden(start, length)) throw DECLINED;
    this.typeStart[i] = start;
    this.typeEnd[i] = end;
    this.at = end;
  }

  /** Skips a data value, checking it is one the general path stores as it is. */
  private skipValue(depth: number): void {
    const head = this.buf[this.at]!;
    if (head < 0x80 || head >= 0xe0 || head === 0xc0 || head === 0xc2 || head === 0xc3) {
      this.at++;
      return;
    }
    if (stringHeaderBytes(head) > 0) {
      // Not `this.at += this.stringLength()`: that would add to the cursor as it was before the header.
      const length = this.stringLength();
      this.at += length;
      return;
    }
    const mapHeader = mapHeaderBytes(head);
    const arrayHeader = arrayHeaderBytes(head);
    if (mapHeader === 0 && arrayHeader === 0) {
      this.finiteNumber(); // declines binary, extensions, integers beyond ±(2^53−1), reserved
      return;
    }
    if (depth > this.limits.maxDataDepth) throw DECLINED;
    const size = this.collectionSize(mapHeader + arrayHeader);
    for (let i = 0; i < size; i++) {
      if (mapHeader > 0) {
        const length = this.stringLength();
        if (this.isForbidden(this.at, length)) throw DECLINED;
        this.at += length;
      }
      this.skipValue(depth + 1);
    }
  }

  private mapSize(): number {
    return this.collectionSize(mapHeaderBytes(this.buf[this.at]!));
  }

  /** The size of the map or array at the cursor (`header`: its header's bytes, 0 if it is not one); the cursor moves past the header. */
  private collectionSize(header: number): number {
    if (header === 0 || this.at + header > this.buf.length) throw DECLINED;
    const size = collectionSize(this.buf, this.view, this.at);
    this.at += header;
    return size;
  }

  /** The byte length of the string at the cursor, which moves to its first byte. */
  private stringLength(): number {
    const header = stringHeaderBytes(this.buf[this.at]!);
    if (header === 0 || this.at + header > this.buf.length) throw DECLINED;
    const length = stringLength(this.buf, this.view, this.at);
    this.at += header;
    if (this.at + length > this.buf.length) throw DECLINED;
    return length;
  }

  /** A non-negative integer of any MessagePack integer width (a float declines). */
  private unsigned(): number {
    const head = this.buf[this.at]!;
    if (head >= 0xe0 || (head >= 0xca && head <= 0xcb)) throw DECLINED;
    const value = this.finiteNumber();
    if (value < 0) throw DECLINED;
    return value;
  }

  private finiteNumber(): number {
    const size = numberBytes(this.buf[this.at]!);
    if (size === 0 || this.at + size > this.buf.length) throw DECLINED;
    const value = readNumber(this.buf, this.view, this.at);
    this.at += size;
    if (!Number.isFinite(value)) throw DECLINED;
    return value;
  }


  /** Whether the `length` bytes at `at` are the ASCII text `name`. */
  private isName(at: number, length: number, name: string): boolean {
    if (length !== name.length) return false;
    for (let i = 0; i < length; i++) if (this.buf[at + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private isForbidden(at: number, length: number): boolean {
    if (!FORBIDDEN_LENGTHS.has(length)) return false;
    for (let i = 0; i < FORBIDDEN.length; i++) if (this.isName(at, length, FORBIDDEN[i]!)) return true;
    return false;
  }

  /** Strict UTF-8 (node:buffer's isUtf8), with ASCII — the usual case — decided without a call. */
  private isUtf8(start: number, end: number): boolean {
    for (let at = start; at < end; at++) if (this.buf[at]! >= 0x80) return isUtf8(this.buf.subarray(start, end));
    return true;
  }
}
