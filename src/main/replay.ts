// Pages of a partition's event log (event-log.ts) for the `replay` op: from an offset, optionally
// only one key's events. Asking for offsets the retention has already removed is an error that
// names the earliest one still held.
import { retainedRange, segmentEntries, type LogKey } from '../shared/event-log.js';
import { RecordKind } from '../shared/event-record.js';
import type { Store } from '../shared/store.js';
import { ErrorCode, ProtocolError } from './protocol.js';

export interface ReplayPage {
  events: Record<string, unknown>[];
  /** The offset to ask for next; null when the log holds nothing after this page. */
  next: number | null;
}

/** Entries scanned per page at most when filtering by key (bounds the work of one request). */
const MAX_SCANNED = 100_000;

export function replayPage(store: Store, partition: number, from: number, limit: number, key: string | null, id: number): ReplayPage {
  const range = retainedRange(store, partition);
  // Offsets start at 1: below the first held entry is an error only if earlier entries existed.
  if (range !== null && range.first > 1 && from < range.first) {
    throw new ProtocolError(ErrorCode.OUT_OF_RANGE, `partition ${partition}: offset ${from} is no longer in the log; the earliest held is ${range.first}`, id);
  }
  const events: Record<string, unknown>[] = [];
  let next: number | null = null;
  let scanned = 0;
  // Start at the segment holding `from`: the last one whose first offset is not above it.
  let start: LogKey = [partition, from];
  for (const key of store.log.getKeys({ start: [partition, from], end: [partition, 0], reverse: true, limit: 1 })) start = key as LogKey;
  scan: for (const { value } of store.log.getRange({ start, end: [partition, Infinity] })) {
    for (const entry of segmentEntries(value)) {
      if (entry.offset < from) continue;
      if (events.length === limit || scanned++ === MAX_SCANNED) {
        next = entry.offset;
        break scan;
      }
      if (key !== null && entry.key !== key) continue;
      events.push({
        offset: entry.offset,
        key: entry.key,
        type: entry.type,
        ts: entry.ts,
        ...(entry.kind === RecordKind.Merge ? { data: entry.payload ?? undefined } : { update: entry.payload, fanOut: entry.kind === RecordKind.FanOut }),
      });
    }
  }
  return { events, next };
}
