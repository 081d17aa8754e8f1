// The per-partition event log: what each partition applied, in offset order, written by its worker
// in the same LMDB transaction as the records it changed. One LMDB value per partition per batch
// (a segment), so the log costs a put per touched partition per commit, not one per event; the
// retention removes whole segments.
//
//   key [partition, first offset]
//   segment: 0 f64 last offset   8 f64 newest ts   16 u32 entries, then per entry: f64 offset, u32 bytes, entry
//   entry:   0 u8 kind (RecordKind; | FOLDED_FLAG)   1 f64 ts   9 f64 version   17 u16 key bytes
//           19 u16 type bytes   [21 u16 updates, only with FOLDED_FLAG]   then key | type | payload
//
// payload: the event's `data` (Merge) or the resolved update document (Routed, FanOut), MessagePack.
// version: the key's record version this entry produced, so a subscriber that knows the version it
// last saw can be given exactly the entries after it (`sub` with `from`). A FanOut entry that folds
// several events' updates (main/routes/update-fold.ts) moved the version by `updates`; entries without
// the flag (all entries written before folding existed) moved it by one.
import type { RecordKind } from './event-record.js';
import { copyBytesInto } from './byte-ranges.js';
import { msgpack } from './msgpack.js';
import type { Store } from './store.js';

export type LogKey = [partition: number, offset: number];

export const LOG_ENTRY_HEADER_BYTES = 21;
/** Set in an entry's kind byte when a u16 count of folded updates follows the header. */
const FOLDED_FLAG = 0x80;
const FOLDED_BYTES = 2;
export const SEGMENT_HEADER_BYTES = 20;
export const SEGMENT_ENTRY_HEADER_BYTES = 12;

export interface LogEntry {
  offset: number;
  kind: RecordKind;
  key: string;
  type: string;
  ts: number;
  /** The key's record version after this entry. */
  version: number;
  /** Updates this entry applied (versions it moved): more than 1 when a fan-out folded several. */
  updates: number;
  /** Bytes the entry takes in the log. */
  bytes: number;
  /** Merge: the event's data; otherwise the update document applied. */
  payload: unknown;
}

/** Writes an entry from ring bytes into `out` (whose DataView is `outView`) at `at`; returns its length. */
export function writeLogEntry(out: Buffer, outView: DataView, at: number, kind: RecordKind, updates: number, ts: number, version: number, ring: Buffer, keyStart: number, keyEnd: number, typeEnd: number, dataStart: number, dataEnd: number): number {
  out[at] = updates === 1 ? kind : kind | FOLDED_FLAG;
  out.writeDoubleLE(ts, at + 1);
  out.writeDoubleLE(version, at + 9);
  out.writeUInt16LE(keyEnd - keyStart, at + 17);
  out.writeUInt16LE(typeEnd - keyEnd, at + 19);
  let pos = at + LOG_ENTRY_HEADER_BYTES;
  if (updates !== 1) {
    out.writeUInt16LE(updates, pos);
    pos += FOLDED_BYTES;
  }
  pos += copyBytesInto(ring, keyStart, typeEnd, out, outView, pos);
  pos += copyBytesInto(ring, dataStart, dataEnd, out, outView, pos);
  return pos - at;
}

export function logEntryBytes(updates: number, keyStart: number, typeEnd: number, dataStart: number, dataEnd: number): number {
  return LOG_ENTRY_HEADER_BYTES + (updates === 1 ? 0 : FOLDED_BYTES) + (typeEnd - keyStart) + (dataEnd - dataStart);
}

/** Where an entry's key starts (after the header and, if folded, its count). */
const keyStartOf = (entry: Buffer): number => LOG_ENTRY_HEADER_BYTES + (entry[0]! & FOLDED_FLAG ? FOLDED_BYTES : 0);

function readLogEntry(offset: number, value: Buffer): LogEntry {
  const keyBytes = value.readUInt16LE(17);
  const typeBytes = value.readUInt16LE(19);
  const keyAt = keyStartOf(value);
  const payloadAt = keyAt + keyBytes + typeBytes;
  return {
    offset,
    kind: (value[0]! & ~FOLDED_FLAG) as RecordKind,
    ts: value.readDoubleLE(1),
    version: value.readDoubleLE(9),
    updates: value[0]! & FOLDED_FLAG ? value.readUInt16LE(LOG_ENTRY_HEADER_BYTES) : 1,
    bytes: value.length,
    key: value.toString('utf8', keyAt, keyAt + keyBytes),
    type: value.toString('utf8', keyAt + keyBytes, payloadAt),
    payload: payloadAt === value.length ? null : msgpack.unpack(value.subarray(payloadAt)),
  };
}

/** Whether an entry (as given to readLogEntry) is of the key whose UTF-8 bytes are `key`. */
function entryHasKey(entry: Buffer, key: Buffer): boolean {
  const keyBytes = entry.readUInt16LE(17);
  const keyAt = keyStartOf(entry);
  return keyBytes === key.length && entry.compare(key, 0, keyBytes, keyAt, keyAt + keyBytes) === 0;
}

/**
 * The entries of a segment in offset order; with `onlyKey` (a key's UTF-8 bytes) only that key's,
 * the others skipped undecoded. `visit` returns false to stop early; the result says whether it did.
 */
export function forEachSegmentEntry(segment: Buffer, onlyKey: Buffer | null, visit: (entry: LogEntry) => boolean): boolean {
  const count = segment.readUInt32LE(16);
  let at = SEGMENT_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const offset = segment.readDoubleLE(at);
    const start = at + SEGMENT_ENTRY_HEADER_BYTES;
    const end = start + segment.readUInt32LE(at + 8);
    at = end;
    const entry = segment.subarray(start, end);
    if (onlyKey !== null && !entryHasKey(entry, onlyKey)) continue;
    if (!visit(readLogEntry(offset, entry))) return false;
  }
  return true;
}

/** Entries in a segment (for bounding scans). */
export const segmentEntryCount = (segment: Buffer): number => segment.readUInt32LE(16);

/** Fills in a segment's header once its entries are written. */
export function writeSegmentHeader(segment: Buffer, lastOffset: number, newestTs: number, count: number): void {
  segment.writeDoubleLE(lastOffset, 0);
  segment.writeDoubleLE(newestTs, 8);
  segment.writeUInt32LE(count, 16);
}

export const segmentLastOffset = (segment: Buffer): number => segment.readDoubleLE(0);
export const segmentNewestTs = (segment: Buffer): number => segment.readDoubleLE(8);

/** The first and last offsets the log holds for a partition (null when it holds none). */
export function retainedRange(store: Store, partition: number): { first: number; last: number } | null {
  let first: number | null = null;
  let last: number | null = null;
  for (const key of store.log.getKeys({ start: [partition, 0], end: [partition + 1, 0], limit: 1 })) first = (key as LogKey)[1];
  for (const { value } of store.log.getRange({ start: [partition + 1, 0], end: [partition, 0], limit: 1, reverse: true })) last = segmentLastOffset(value);
  return first === null || last === null ? null : { first, last };
}
