// The ring record that carries one validated event from the front end to the worker owning its
// partition. Fixed header, then the key and type as UTF-8 and `data` as MessagePack:
//
//   0  u16 partition      2  u16 key bytes     4  u16 type bytes    6  u16 reserved
//   8  f64 partition offset (assigned by the front end, strictly increasing per partition)
//  16  f64 ts             24  u32 data bytes (0: no data)
//  28  key | type | data
import type { Utf8Buffer } from './utf8-buffer.js';

export const EVENT_HEADER_BYTES = 28;

/** Upper bound of the payload size before the strings are encoded. */
export function eventRecordMaxBytes(keyBytes: number, type: string, data: Uint8Array | null): number {
  return EVENT_HEADER_BYTES + keyBytes + type.length * 3 + (data === null ? 0 : data.length);
}

/** Writes the record at `at`; returns its payload length. */
export function writeEventRecord(
  buf: Buffer,
  view: DataView,
  at: number,
  partition: number,
  offset: number,
  key: string,
  type: string,
  ts: number,
  data: Uint8Array | null,
): number {
  let pos = at + EVENT_HEADER_BYTES;
  const keyBytes = (buf as Utf8Buffer).utf8Write(key, pos);
  pos += keyBytes;
  const typeBytes = (buf as Utf8Buffer).utf8Write(type, pos);
  pos += typeBytes;
  const dataBytes = data === null ? 0 : data.length;
  if (data !== null) {
    buf.set(data, pos);
    pos += dataBytes;
  }
  view.setUint16(at, partition, true);
  view.setUint16(at + 2, keyBytes, true);
  view.setUint16(at + 4, typeBytes, true);
  view.setUint16(at + 6, 0, true);
  view.setFloat64(at + 8, offset, true);
  view.setFloat64(at + 16, ts, true);
  view.setUint32(at + 24, dataBytes, true);
  return pos - at;
}

/** Reads a record in place; `data` positions are returned through the reader's fields. */
export class EventRecordReader {
  partition = 0;
  offset = 0;
  ts = 0;
  key = '';
  type = '';
  dataStart = 0;
  dataEnd = 0;

  private readonly buf: Utf8Buffer;

  constructor(
    buf: Buffer,
    private readonly view: DataView,
  ) {
    this.buf = buf as Utf8Buffer;
  }

  read(at: number): void {
    const view = this.view;
    const keyBytes = view.getUint16(at + 2, true);
    const typeBytes = view.getUint16(at + 4, true);
    this.partition = view.getUint16(at, true);
    this.offset = view.getFloat64(at + 8, true);
    this.ts = view.getFloat64(at + 16, true);
    const keyStart = at + EVENT_HEADER_BYTES;
    const typeStart = keyStart + keyBytes;
    this.dataStart = typeStart + typeBytes;
    this.dataEnd = this.dataStart + view.getUint32(at + 24, true);
    this.key = this.buf.utf8Slice(keyStart, typeStart);
    this.type = this.buf.utf8Slice(typeStart, this.dataStart);
  }
}
