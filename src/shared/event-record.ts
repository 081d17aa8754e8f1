// The ring record that carries one validated event from the front end to the worker owning its
// partition. Fixed header, then the key and type as UTF-8 and `data` as MessagePack:
//
//   0  u16 partition      2  u16 key bytes     4  u16 type bytes    6  u16 producer bytes (0: none)
//   8  f64 ts             16  u32 data bytes (0: no data)
//  20  u32 key hash (FNV-1a of the key's UTF-8, the partition hash: the worker's cache looks
//      records up by it without decoding the key)
//  24  u8 kind (RecordKind: what `data` holds and how the record is updated)   25 reserved
//  26  u16 updates (FanOut: how many events' updates `data` folds together, main/routes/update-fold.ts; else 1)
//  28  key | type | producer | f64 seq (only with a producer) | data
//
// No partition offset: records of one partition come from several acceptors, so the worker that
// owns the partition numbers them in the order it applies them.
import { copyBytesInto } from './byte-ranges.js';
import type { Utf8Buffer } from './utf8-buffer.js';
import { Utf8Interner } from './utf8-interner.js';

export const EVENT_HEADER_BYTES = 28;

/** How a ring record updates its key's metadata record. */
export const RecordKind = {
  /** The event's own key, default merge: `data` is the event's data. */
  Merge: 0,
  /** The event's own key under a route: `data` is a resolved update document. */
  Routed: 1,
  /** Another key a route fans out to: `data` is a resolved update document (maybe several folded). */
  FanOut: 2,
  /**
   * Not an event (cluster mode, log-reader.ts): the records before it of its partition end the
   * events-topic message whose next one's offset is `ts`. Header only.
   */
  LogPosition: 3,
  /**
   * Not an event (cluster mode): the log reader starts partition `partition` anew from its stored
   * position (the partition came to this worker); its records before this one are from an earlier
   * hold of it and are not applied. Header only.
   */
  Resume: 4,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

const SEQ_BYTES = 8;

/** The idempotent producer a record's pub came from, or none. */
export interface RecordProducer {
  /** '' for an ordinary pub. */
  name: string;
  nameBytes: number;
  seq: number;
}

export const NO_PRODUCER: RecordProducer = Object.freeze({ name: '', nameBytes: 0, seq: 0 });

/** Upper bound of the payload size before the strings are encoded. */
export function eventRecordMaxBytes(keyBytes: number, type: string, producer: RecordProducer, data: Uint8Array | null): number {
  return eventRecordBytes(keyBytes, type.length * 3, producer.nameBytes, data === null ? 0 : data.length);
}

/** The payload size of a record whose parts' byte lengths are known (producerNameBytes 0: no producer). */
export function eventRecordBytes(keyBytes: number, typeBytes: number, producerNameBytes: number, dataBytes: number): number {
  const producerBytes = producerNameBytes === 0 ? 0 : producerNameBytes + SEQ_BYTES;
  return EVENT_HEADER_BYTES + keyBytes + typeBytes + producerBytes + dataBytes;
}

/** Writes the record at `at`; returns its payload length. */
export function writeEventRecord(
  buf: Buffer,
  view: DataView,
  at: number,
  partition: number,
  key: string,
  keyHash: number,
  type: string,
  ts: number,
  producer: RecordProducer,
  kind: RecordKind,
  updates: number,
  data: Uint8Array | null,
): number {
  let pos = at + EVENT_HEADER_BYTES;
  const keyBytes = (buf as Utf8Buffer).utf8Write(key, pos);
  pos += keyBytes;
  const typeBytes = (buf as Utf8Buffer).utf8Write(type, pos);
  pos += typeBytes;
  pos = writeProducer(buf, view, pos, producer);
  const dataBytes = data === null ? 0 : data.length;
  if (data !== null) {
    buf.set(data, pos);
    pos += dataBytes;
  }
  writeHeader(view, at, partition, keyBytes, typeBytes, producer, ts, dataBytes, keyHash, kind, updates);
  return pos - at;
}

/**
 * Writes the record at `at` with its key, type and data copied from byte ranges (of a scanned pub
 * frame, main/ingest/pub-scanner.ts, or of the front end's scratch buffers); returns its payload length.
 */
export function writeEventRecordFrom(
  buf: Buffer,
  view: DataView,
  at: number,
  partition: number,
  keySource: Uint8Array,
  keyStart: number,
  keyEnd: number,
  keyHash: number,
  typeSource: Uint8Array,
  typeStart: number,
  typeEnd: number,
  ts: number,
  producer: RecordProducer,
  kind: RecordKind,
  updates: number,
  dataSource: Uint8Array,
  dataStart: number,
  dataEnd: number,
): number {
  let pos = at + EVENT_HEADER_BYTES;
  pos += copyBytesInto(keySource, keyStart, keyEnd, buf, view, pos);
  pos += copyBytesInto(typeSource, typeStart, typeEnd, buf, view, pos);
  pos = writeProducer(buf, view, pos, producer);
  pos += copyBytesInto(dataSource, dataStart, dataEnd, buf, view, pos);
  writeHeader(view, at, partition, keyEnd - keyStart, typeEnd - typeStart, producer, ts, dataEnd - dataStart, keyHash, kind, updates);
  return pos - at;
}

function writeProducer(buf: Buffer, view: DataView, pos: number, producer: RecordProducer): number {
  if (producer.nameBytes === 0) return pos;
  pos += (buf as Utf8Buffer).utf8Write(producer.name, pos);
  view.setFloat64(pos, producer.seq, true);
  return pos + SEQ_BYTES;
}

function writeHeader(view: DataView, at: number, partition: number, keyBytes: number, typeBytes: number, producer: RecordProducer, ts: number, dataBytes: number, keyHash: number, kind: RecordKind, updates: number): void {
  view.setUint16(at, partition, true);
  view.setUint16(at + 2, keyBytes, true);
  view.setUint16(at + 4, typeBytes, true);
  view.setUint16(at + 6, producer.nameBytes, true);
  view.setFloat64(at + 8, ts, true);
  view.setUint32(at + 16, dataBytes, true);
  view.setUint32(at + 20, keyHash, true);
  view.setUint8(at + 24, kind);
  view.setUint16(at + 26, updates, true);
}

/**
 * Writes a header-only record of the log reader at `at`: a LogPosition (`nextOffset`: the offset of
 * the message after the one it ends) or a Resume; returns its length.
 */
export function writeLogMarkRecord(view: DataView, at: number, kind: typeof RecordKind.LogPosition | typeof RecordKind.Resume, partition: number, nextOffset = 0): number {
  writeHeader(view, at, partition, 0, 0, NO_PRODUCER, nextOffset, 0, 0, kind, 0);
  return EVENT_HEADER_BYTES;
}

/** Whether `length` bytes at `at` hold exactly the record their header describes (of a source not trusted to be this engine). */
export function isWholeEventRecord(view: DataView, at: number, length: number): boolean {
  if (length < EVENT_HEADER_BYTES) return false;
  const declared = eventRecordBytes(view.getUint16(at + 2, true), view.getUint16(at + 4, true), view.getUint16(at + 6, true), view.getUint32(at + 16, true));
  return declared === length && view.getUint8(at + 24) <= RecordKind.FanOut;
}

/** Whether the records at `a` and `b` (of one buffer) come from the same pub of one idempotent producer. */
export function sameProducerPub(bytes: Buffer, view: DataView, a: number, b: number): boolean {
  const producerBytes = view.getUint16(a + 6, true);
  if (producerBytes === 0 || producerBytes !== view.getUint16(b + 6, true)) return false;
  const nameA = a + EVENT_HEADER_BYTES + view.getUint16(a + 2, true) + view.getUint16(a + 4, true);
  const nameB = b + EVENT_HEADER_BYTES + view.getUint16(b + 2, true) + view.getUint16(b + 4, true);
  return view.getFloat64(nameA + producerBytes, true) === view.getFloat64(nameB + producerBytes, true) && bytes.compare(bytes, nameB, nameB + producerBytes, nameA, nameA + producerBytes) === 0;
}

/**
 * Reads a record in place. The key stays as bytes (keyStart/keyEnd, keyHash) until `key()` is
 * asked for; the type and the producer name are interned.
 */
export class EventRecordReader {
  partition = 0;
  ts = 0;
  keyHash = 0;
  keyStart = 0;
  keyEnd = 0;
  typeEnd = 0;
  type = '';
  kind: RecordKind = RecordKind.Merge;
  /** Updates folded into the record (1 unless a FanOut record folds several). */
  updates = 1;
  /** '' when the pub came from no idempotent producer. */
  producer = '';
  seq = 0;
  dataStart = 0;
  dataEnd = 0;

  readonly buf: Utf8Buffer;
  private readonly names = new Utf8Interner();

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
    const producerBytes = view.getUint16(at + 6, true);
    this.partition = view.getUint16(at, true);
    this.ts = view.getFloat64(at + 8, true);
    this.keyHash = view.getUint32(at + 20, true);
    this.kind = view.getUint8(at + 24) as RecordKind;
    this.updates = view.getUint16(at + 26, true);
    this.keyStart = at + EVENT_HEADER_BYTES;
    this.keyEnd = this.keyStart + keyBytes;
    const typeEnd = (this.typeEnd = this.keyEnd + typeBytes);
    this.type = this.names.intern(this.buf, this.keyEnd, typeEnd);
    if (producerBytes === 0) {
      this.producer = '';
      this.seq = 0;
      this.dataStart = typeEnd;
    } else {
      const producerEnd = typeEnd + producerBytes;
      this.producer = this.names.intern(this.buf, typeEnd, producerEnd);
      this.seq = view.getFloat64(producerEnd, true);
      this.dataStart = producerEnd + SEQ_BYTES;
    }
    this.dataEnd = this.dataStart + view.getUint32(at + 16, true);
  }

  key(): string {
    return this.buf.utf8Slice(this.keyStart, this.keyEnd);
  }
}
