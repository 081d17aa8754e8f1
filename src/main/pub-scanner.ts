// The fast path of the hottest frame: a MessagePack `pub` is checked and indexed in place — where
// each event's key, type, ts and data lie in the frame — instead of being decoded into objects,
// validated, and its data encoded again for the ring. Keys are hashed from their bytes; the ring
// records are then copied from the frame (partition-channel.ts).
//
// It accepts only a plainly valid pub: every field known and present once, ids and seqs as
// MessagePack unsigned integers, keys and types strictly valid UTF-8 within their limits, data a
// map of JSON-like values (no binary, extensions or 64-bit integers) within the depth limit.
// Anything else — an error to report, or merely an unusual encoding — makes `scan` return false,
// and the frame takes the general path (decodeFrame, validate.ts), which gives the exact answer.
// So this path never decides a rejection, and accepts nothing the general path would refuse.
import { numberBytes, readNumber } from '../shared/msgpack-numbers.js';
import type { Limits } from './protocol.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Names the general path refuses as a type or a data field: __proto__, constructor, prototype. */
const FORBIDDEN = ['__proto__', 'constructor', 'prototype'].map((name) => Buffer.from(name));

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
      const buf = this.buf;
      if (nameLength === 2 && buf[name] === 0x6f && buf[name + 1] === 0x70 && !op) {
        // "op": "pub"
        op = true;
        if (this.stringLength() !== 3 || buf[this.at] !== 0x70 || buf[this.at + 1] !== 0x75 || buf[this.at + 2] !== 0x62) throw DECLINED;
        this.at += 3;
      } else if (nameLength === 2 && buf[name] === 0x69 && buf[name + 1] === 0x64 && !id) {
        id = true;
        this.id = this.unsigned();
      } else if (nameLength === 3 && buf[name] === 0x73 && buf[name + 1] === 0x65 && buf[name + 2] === 0x71 && this.seq === undefined) {
        this.seq = this.unsigned();
      } else if (nameLength === 6 && !events && this.isName(name, 'events')) {
        events = true;
        this.events();
      } else throw DECLINED;
    }
    if (!op || !id || !events) throw DECLINED;
  }

  private events(): void {
    const head = this.buf[this.at++]!;
    let count: number;
    if ((head & 0xf0) === 0x90) count = head & 0x0f;
    else if (head === 0xdc) count = this.u16();
    else throw DECLINED;
    if (count === 0 || count > this.keyStart.length) throw DECLINED;
    this.count = count;
    for (let i = 0; i < count; i++) this.event(i);
  }

  private event(i: number): void {
    const fields = this.mapSize();
    const buf = this.buf;
    let key = false;
    let type = false;
    let ts = false;
    let data = false;
    for (let f = 0; f < fields; f++) {
      const nameLength = this.stringLength();
      const c = buf[this.at]!;
      this.at += nameLength;
      if (nameLength === 3 && c === 0x6b && buf[this.at - 2] === 0x65 && buf[this.at - 1] === 0x79 && !key) {
        key = true;
        this.key(i);
      } else if (nameLength === 4 && c === 0x74 && buf[this.at - 3] === 0x79 && !type && this.isName(this.at - 4, 'type')) {
        type = true;
        this.type(i);
      } else if (nameLength === 2 && c === 0x74 && buf[this.at - 1] === 0x73 && !ts) {
        ts = true;
        this.ts[i] = this.finiteNumber();
      } else if (nameLength === 4 && c === 0x64 && !data && this.isName(this.at - 4, 'data')) {
        data = true;
        if (!this.isMapHead(buf[this.at]!)) throw DECLINED;
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
    if (length === 0 || length > this.limits.maxKeyBytes) throw DECLINED;
    const buf = this.buf;
    // FNV-1a over the UTF-8 bytes: the same hash partition.ts computes from the decoded key.
    let h = FNV_OFFSET;
    let ascii = true;
    for (let at = start; at < end; at++) {
      const byte = buf[at]!;
      if (byte === 0) throw DECLINED;
      if (byte >= 0x80) ascii = false;
      h = Math.imul(h ^ byte, FNV_PRIME);
    }
    if (!ascii && !isUtf8(buf, start, end)) throw DECLINED;
    this.keyStart[i] = start;
    this.keyEnd[i] = end;
    this.keyHash[i] = h >>> 0;
    this.at = end;
  }

  private type(i: number): void {
    const length = this.stringLength();
    const start = this.at;
    const end = start + length;
    if (length === 0 || length > this.limits.maxTypeBytes || !isUtf8(this.buf, start, end)) throw DECLINED;
    for (const name of FORBIDDEN) if (this.isBytes(start, end, name)) throw DECLINED;
    this.typeStart[i] = start;
    this.typeEnd[i] = end;
    this.at = end;
  }

  /** Skips a data value, checking it is one the general path stores as it is. */
  private skipValue(depth: number): void {
    const buf = this.buf;
    const head = buf[this.at++]!;
    if (head < 0x80 || head >= 0xe0 || head === 0xc0 || head === 0xc2 || head === 0xc3) return;
    if ((head & 0xe0) === 0xa0) {
      this.at += head & 0x1f;
      return;
    }
    if ((head & 0xf0) === 0x90 || head === 0xdc || head === 0xdd) {
      if (depth > this.limits.maxDataDepth) throw DECLINED;
      const size = (head & 0xf0) === 0x90 ? head & 0x0f : head === 0xdc ? this.u16() : this.u32();
      for (let i = 0; i < size; i++) this.skipValue(depth + 1);
      return;
    }
    if ((head & 0xf0) === 0x80 || head === 0xde || head === 0xdf) {
      if (depth > this.limits.maxDataDepth) throw DECLINED;
      this.at--;
      const size = this.mapSize();
      for (let i = 0; i < size; i++) {
        const length = this.stringLength();
        const name = this.at;
        this.at += length;
        for (const forbidden of FORBIDDEN) if (this.isBytes(name, this.at, forbidden)) throw DECLINED;
        this.skipValue(depth + 1);
      }
      return;
    }
    this.at--;
    if (head === 0xd9 || head === 0xda || head === 0xdb) this.at += this.stringLength();
    else this.finiteNumber(); // declines binary, extensions, 64-bit integers, reserved
  }

  private isMapHead(head: number): boolean {
    return (head & 0xf0) === 0x80 || head === 0xde || head === 0xdf;
  }

  private mapSize(): number {
    const head = this.buf[this.at++]!;
    if ((head & 0xf0) === 0x80) return head & 0x0f;
    if (head === 0xde) return this.u16();
    if (head === 0xdf) return this.u32();
    throw DECLINED;
  }

  /** The byte length of the string at the cursor, which moves to its first byte. */
  private stringLength(): number {
    const head = this.buf[this.at++]!;
    let length: number;
    if ((head & 0xe0) === 0xa0) length = head & 0x1f;
    else if (head === 0xd9) length = this.buf[this.at++]!;
    else if (head === 0xda) length = this.u16();
    else if (head === 0xdb) length = this.u32();
    else throw DECLINED;
    if (this.at + length > this.buf.length) throw DECLINED;
    return length;
  }

  private unsigned(): number {
    const head = this.buf[this.at++]!;
    if (head < 0x80) return head;
    if (head === 0xcc) return this.buf[this.at++]!;
    if (head === 0xcd) return this.u16();
    if (head === 0xce) return this.u32();
    throw DECLINED;
  }

  private finiteNumber(): number {
    const size = numberBytes(this.buf[this.at]!);
    if (size === 0 || this.at + size > this.buf.length) throw DECLINED;
    const value = readNumber(this.buf, this.view, this.at);
    this.at += size;
    if (!Number.isFinite(value)) throw DECLINED;
    return value;
  }

  private u16(): number {
    if (this.at + 2 > this.buf.length) throw DECLINED;
    const value = this.view.getUint16(this.at);
    this.at += 2;
    return value;
  }

  private u32(): number {
    if (this.at + 4 > this.buf.length) throw DECLINED;
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }

  private isName(at: number, name: string): boolean {
    for (let i = 0; i < name.length; i++) if (this.buf[at + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private isBytes(start: number, end: number, bytes: Uint8Array): boolean {
    if (end - start !== bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (this.buf[start + i] !== bytes[i]) return false;
    return true;
  }
}

/** Whether buf[start, end) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
export function isUtf8(buf: Uint8Array, start: number, end: number): boolean {
  let at = start;
  while (at < end) {
    const b = buf[at]!;
    if (b < 0x80) {
      at++;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) low = 0xa0;
      else if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) low = 0x90;
      else if (b === 0xf4) high = 0x8f;
    } else return false;
    if (at + need >= end) return false;
    const second = buf[at + 1]!;
    if (second < low || second > high) return false;
    for (let k = 2; k <= need; k++) {
      const next = buf[at + k]!;
      if (next < 0x80 || next > 0xbf) return false;
    }
    at += need + 1;
  }
  return true;
}
