// Storage encoding of a MetaRecord (the LMDB value): the counters, the last type and the per-type
// counts in a fixed binary layout, then `fields` as standard MessagePack. Against MessagePack of
// the whole object it drops the field names from every value (typically 167 → ~75 bytes), so
// commits copy and write fewer LMDB pages, and it encodes the fixed part without msgpackr.
//
//   0 u8 format (2)   1 f64 version   9 f64 count   17 f64 firstTs   25 f64 lastTs
//  33 u16 lastType bytes, lastType (UTF-8)
//     u32 number of types, then per type: u16 name bytes, name (UTF-8), f64 count
//     MessagePack of `fields` to the end
import type { MetaRecord } from './metadata.js';
import { msgpack } from './msgpack.js';
import type { Utf8Buffer } from './utf8-buffer.js';

const FORMAT = 2;
const HEADER_BYTES = 33;

let scratch = Buffer.allocUnsafeSlow(64 * 1024) as Utf8Buffer;
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);

function ensureScratch(bytes: number): void {
  if (bytes <= scratch.length) return;
  const next = Buffer.allocUnsafeSlow(Math.max(bytes, scratch.length * 2)) as Utf8Buffer;
  scratch.copy(next);
  scratch = next;
  view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);
}

/** Encodes into a shared scratch buffer: the result is valid until the next call (store it at once). */
export function encodeMeta(meta: MetaRecord): Buffer {
  scratch[0] = FORMAT;
  view.setFloat64(1, meta.version, true);
  view.setFloat64(9, meta.count, true);
  view.setFloat64(17, meta.firstTs, true);
  view.setFloat64(25, meta.lastTs, true);
  let at = writeString(HEADER_BYTES, meta.lastType);
  const countAt = at;
  ensureScratch(at + 4);
  at += 4;
  let types = 0;
  for (const name in meta.types) {
    at = writeString(at, name);
    ensureScratch(at + 8);
    view.setFloat64(at, meta.types[name]!, true);
    at += 8;
    types++;
  }
  view.setUint32(countAt, types, true);
  const fields = msgpack.pack(meta.fields);
  ensureScratch(at + fields.length);
  scratch.set(fields, at);
  return scratch.subarray(0, at + fields.length);
}

function writeString(at: number, text: string): number {
  ensureScratch(at + 2 + text.length * 3 + 2);
  const bytes = scratch.utf8Write(text, at + 2);
  view.setUint16(at, bytes, true);
  return at + 2 + bytes;
}

export function decodeMeta(stored: Buffer): MetaRecord {
  if (stored[0] !== FORMAT) throw new Error(`unknown metadata record format ${stored[0]}`);
  const v = new DataView(stored.buffer, stored.byteOffset, stored.length);
  const text = stored as Utf8Buffer;
  let at = HEADER_BYTES;
  const readString = () => {
    const end = at + 2 + v.getUint16(at, true);
    const value = text.utf8Slice(at + 2, end);
    at = end;
    return value;
  };
  const lastType = readString();
  const typeCount = v.getUint32(at, true);
  at += 4;
  const types: Record<string, number> = {};
  for (let i = 0; i < typeCount; i++) {
    const name = readString();
    types[name] = v.getFloat64(at, true);
    at += 8;
  }
  return {
    version: v.getFloat64(1, true),
    count: v.getFloat64(9, true),
    firstTs: v.getFloat64(17, true),
    lastTs: v.getFloat64(25, true),
    lastType,
    types,
    fields: msgpack.unpack(stored.subarray(at)) as Record<string, unknown>,
  };
}
