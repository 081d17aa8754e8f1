// A worker's side of the event log (src/shared/event-log.ts): entries are copied from the ring
// straight into a per-partition segment buffer as the batch is applied, and each touched partition's
// segment is put in the batch's transaction, then the partition is trimmed to the retention.
//
// Buffers are kept from batch to batch (one per partition, grown on demand), so the log costs one
// copy of each event and no allocation per batch. The oldest held segment of each partition is
// remembered, so the retention check reads LMDB only when something is due to go.
import { SEGMENT_ENTRY_HEADER_BYTES, SEGMENT_HEADER_BYTES, logEntryBytes, segmentLastOffset, segmentNewestTs, writeLogEntry, writeSegmentHeader } from '../shared/event-log.js';
import type { RecordKind } from '../shared/event-record.js';
import type { Store } from '../shared/store.js';

/** Segments removed per partition per batch at most, so a lowered retention catches up without one long commit. */
const TRIM_SEGMENTS_PER_BATCH = 64;
const INITIAL_SEGMENT_BYTES = 16 * 1024;

export class PartitionLogWriter {
  private readonly buffers: (Buffer | undefined)[] = [];
  /** A DataView of each partition's buffer, for the copies into it (one per partition: a shared cache of views would thrash). */
  private readonly views: DataView[] = [];
  /** Per partition, this batch's segment: write position (0: untouched), entries, first and last offset, newest ts. */
  private readonly at: Float64Array;
  private readonly count: Float64Array;
  private readonly first: Float64Array;
  private readonly last: Float64Array;
  private readonly newest: Float64Array;
  private readonly touched: number[] = [];
  /** Per partition, the last offset and newest ts of its oldest held segment (NaN: not known). */
  private readonly oldestLast: Float64Array;
  private readonly oldestNewest: Float64Array;

  constructor(
    partitions: number,
    private readonly retentionEvents: number,
    private readonly retentionSeconds: number,
  ) {
    this.at = new Float64Array(partitions);
    this.count = new Float64Array(partitions);
    this.first = new Float64Array(partitions);
    this.last = new Float64Array(partitions);
    this.newest = new Float64Array(partitions);
    this.oldestLast = new Float64Array(partitions).fill(NaN);
    this.oldestNewest = new Float64Array(partitions).fill(NaN);
  }

  /** Appends an event, read from the ring, and the version it gave its key, to its partition's segment. */
  stage(partition: number, offset: number, kind: RecordKind, updates: number, ts: number, version: number, ring: Buffer, keyStart: number, keyEnd: number, typeEnd: number, dataStart: number, dataEnd: number): void {
    const entryBytes = logEntryBytes(updates, keyStart, typeEnd, dataStart, dataEnd);
    let at = this.at[partition]!;
    if (at === 0) {
      at = SEGMENT_HEADER_BYTES;
      this.touched.push(partition);
      this.first[partition] = offset;
      this.newest[partition] = ts;
    } else if (ts > this.newest[partition]!) this.newest[partition] = ts;
    const buffer = this.bufferFor(partition, at + SEGMENT_ENTRY_HEADER_BYTES + entryBytes);
    buffer.writeDoubleLE(offset, at);
    buffer.writeUInt32LE(entryBytes, at + 8);
    writeLogEntry(buffer, this.views[partition]!, at + SEGMENT_ENTRY_HEADER_BYTES, kind, updates, ts, version, ring, keyStart, keyEnd, typeEnd, dataStart, dataEnd);
    this.at[partition] = at + SEGMENT_ENTRY_HEADER_BYTES + entryBytes;
    this.count[partition]++;
    this.last[partition] = offset;
  }

  /**
   * Puts the partition's segment of this batch, if it has one, and trims the partition; call inside
   * the transaction of the partition's store. finish() ends the batch.
   */
  writePartition(store: Store, p: number): void {
    if (this.at[p] === 0) return;
    const oldestTs = this.retentionSeconds > 0 ? Date.now() - this.retentionSeconds * 1000 : -Infinity;
    const segment = this.buffers[p]!;
    writeSegmentHeader(segment, this.last[p]!, this.newest[p]!, this.count[p]!);
    // lmdb-js copies the value into the transaction during the put: the buffer is free after it.
    store.log.putSync([p, this.first[p]!], segment.subarray(0, this.at[p]!));
    const keepFrom = this.last[p]! - this.retentionEvents + 1;
    if (!(this.oldestLast[p]! >= keepFrom && this.oldestNewest[p]! >= oldestTs)) this.trim(store, p, keepFrom, oldestTs);
  }

  /** The batch's segments are written: start the next. */
  finish(): void {
    this.clear();
  }

  /** The batch failed: forgets its entries, and what was known of the oldest segments (removals rolled back). */
  discard(): void {
    this.clear();
    this.oldestLast.fill(NaN);
    this.oldestNewest.fill(NaN);
  }

  /** Removes the partition's expired segments older than the one just put, and notes the oldest kept. */
  private trim(store: Store, p: number, keepFrom: number, oldestTs: number): void {
    // Collected first, removed after: no cursor is open while the tree changes.
    const expired: [number, number][] = [];
    let oldestLast = this.last[p]!;
    let oldestNewest = this.newest[p]!;
    for (const { key, value } of store.log.getRange({ start: [p, 0], end: [p, this.first[p]!], limit: TRIM_SEGMENTS_PER_BATCH + 1 })) {
      const last = segmentLastOffset(value);
      const newest = segmentNewestTs(value);
      if ((last >= keepFrom && newest >= oldestTs) || expired.length === TRIM_SEGMENTS_PER_BATCH) {
        oldestLast = last;
        oldestNewest = newest;
        break;
      }
      expired.push(key as [number, number]);
    }
    for (const key of expired) store.log.removeSync(key);
    this.oldestLast[p] = oldestLast;
    this.oldestNewest[p] = oldestNewest;
  }

  private clear(): void {
    for (const p of this.touched) {
      this.at[p] = 0;
      this.count[p] = 0;
    }
    this.touched.length = 0;
  }

  private bufferFor(partition: number, bytes: number): Buffer {
    const buffer = this.buffers[partition];
    if (buffer !== undefined && buffer.length >= bytes) return buffer;
    const grown = Buffer.allocUnsafeSlow(Math.max(bytes, (buffer?.length ?? INITIAL_SEGMENT_BYTES / 2) * 2));
    buffer?.copy(grown, 0, 0, this.at[partition]!);
    this.buffers[partition] = grown;
    this.views[partition] = new DataView(grown.buffer, grown.byteOffset, grown.length);
    return grown;
  }
}
