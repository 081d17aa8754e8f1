// Storage encoding of a MetaRecord (the LMDB value). A fixed binary header for the counters, then
// `types` and `fields` as one standard MessagePack array. Against MessagePack of the whole object
// it saves the seven field names in every value (118 → 75 bytes for a typical record): smaller
// values mean fewer LMDB pages to copy and write per commit, and a little less encoding work.
//
//   0 u8 format (1)   1 f64 version   9 f64 count   17 f64 firstTs   25 f64 lastTs
//  33 u16 lastType bytes   35 lastType (UTF-8)   then MessagePack [types, fields]
import type { MetaRecord } from './metadata.js';
import { msgpack } from './msgpack.js';

const FORMAT = 1;
const HEADER_BYTES = 35;

interface Utf8Buffer extends Buffer {
  utf8Write(text: string, offset: number): number;
  utf8Slice(start: number, end: number): string;
}

let scratch = Buffer.allocUnsafeSlow(64 * 1024) as Utf8Buffer;
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);

/** Encodes into a shared scratch buffer: the result is valid until the next call (copy or store it at once). */
export function encodeMeta(meta: MetaRecord): Buffer {
  const tail = msgpack.pack([meta.types, meta.fields]);
  const needed = HEADER_BYTES + meta.lastType.length * 3 + tail.length;
  if (needed > scratch.length) {
    scratch = Buffer.allocUnsafeSlow(Math.max(needed, scratch.length * 2)) as Utf8Buffer;
    view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);
  }
  scratch[0] = FORMAT;
  view.setFloat64(1, meta.version, true);
  view.setFloat64(9, meta.count, true);
  view.setFloat64(17, meta.firstTs, true);
  view.setFloat64(25, meta.lastTs, true);
  const typeBytes = scratch.utf8Write(meta.lastType, HEADER_BYTES);
  view.setUint16(33, typeBytes, true);
  const end = HEADER_BYTES + typeBytes;
  scratch.set(tail, end);
  return scratch.subarray(0, end + tail.length);
}

export function decodeMeta(stored: Buffer): MetaRecord {
  if (stored[0] !== FORMAT) throw new Error(`unknown metadata record format ${stored[0]}`);
  const v = new DataView(stored.buffer, stored.byteOffset, stored.length);
  const typeEnd = HEADER_BYTES + v.getUint16(33, true);
  const [types, fields] = msgpack.unpack(stored.subarray(typeEnd)) as [Record<string, number>, Record<string, unknown>];
  return {
    version: v.getFloat64(1, true),
    count: v.getFloat64(9, true),
    firstTs: v.getFloat64(17, true),
    lastTs: v.getFloat64(25, true),
    lastType: (stored as Utf8Buffer).utf8Slice(HEADER_BYTES, typeEnd),
    types,
    fields,
  };
}
