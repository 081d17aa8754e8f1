// Storage encoding of a MetaRecord (the LMDB value): the counters, the last type and the per-type
// counts in a fixed binary layout, then `fields` as standard MessagePack. Against MessagePack of
// the whole object it drops the field names from every value (typically 167 → ~75 bytes), so
// commits copy and write fewer LMDB pages, and it encodes the fixed part without msgpackr.
//
//   0 u8 format (2)   1 f64 version   9 f64 count   17 f64 firstTs   25 f64 lastTs
//  33 u16 lastType bytes, lastType (UTF-8)
//     u32 number of types, then per type: u16 name bytes, name (UTF-8), f64 count
//     MessagePack of `fields` to the end
import { BinaryWriter } from './binary-writer.js';
import type { MetaRecord } from './metadata.js';
import { msgpack } from './msgpack.js';
import type { Utf8Buffer } from './utf8-buffer.js';

const FORMAT = 2;
const HEADER_BYTES = 33;

const writer = new BinaryWriter();

/** Encodes into a shared scratch buffer: the result is valid until the next call (store it at once). */
export function encodeMeta(meta: MetaRecord): Buffer {
  writer.reset();
  writer.u8(FORMAT);
  writer.f64le(meta.version);
  writer.f64le(meta.count);
  writer.f64le(meta.firstTs);
  writer.f64le(meta.lastTs);
  writer.lengthPrefixedUtf8(meta.lastType);
  const countAt = writer.length;
  writer.u32le(0);
  let types = 0;
  for (const name in meta.types) {
    writer.lengthPrefixedUtf8(name);
    writer.f64le(meta.types[name]!);
    types++;
  }
  writer.setU32le(countAt, types);
  writer.msgpackMap(meta.fields);
  return writer.bytes();
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
