// Reading a partition's event log (event-log.ts) on the main thread: pages for the `replay` op
// (from an offset, optionally only one key's events) and the entries a `sub` with `from` missed.
// Offsets the retention has already removed are an error that names the earliest one still held.
import { forEachSegmentEntry, retainedRange, segmentEntryCount, segmentLastOffset, type LogEntry, type LogKey } from '../../shared/event-log.js';
import { RecordKind } from '../../shared/event-record.js';
import type { Store } from '../../shared/store.js';
import { ErrorCode, ProtocolError, type ReplayedEvent } from '../../shared/wire.js';

export interface ReplayPage {
  events: ReplayedEvent[];
  /** Where the next page starts: past every entry this page covered. */
  resume: number;
  /** Whether the log held more at `resume` when read (false: caught up). */
  more: boolean;
}

/** Log entries looked at per page or recovery at most (bounds the main thread's work per request). */
const MAX_SCANNED = 100_000;
/** A page stops growing past this many entry bytes (a page of big events stays a sane frame). */
const MAX_PAGE_BYTES = 256 * 1024;
/** Missed updates a `sub` with `from` recovers at most; past that the subscriber resyncs from the snapshot. */
const MAX_RECOVERED = 1000;

/** Throws OUT_OF_RANGE if the retention removed offset `from` of the partition. */
function checkRetained(store: Store, partition: number, from: number, id: number): void {
  const range = retainedRange(store, partition);
  // Offsets start at 1: below the first held entry is an error only if earlier entries existed.
  if (range !== null && range.first > 1 && from < range.first) {
    throw new ProtocolError(ErrorCode.OUT_OF_RANGE, `partition ${partition}: offset ${from} is no longer in the log; the earliest held is ${range.first}`, id);
  }
}

function toReplayedEvent(entry: LogEntry): ReplayedEvent {
  const { offset, key, type, ts, version, kind, payload, updates } = entry;
  if (kind === RecordKind.Merge) return { offset, key, type, ts, version, data: payload ?? undefined };
  const event: ReplayedEvent = { offset, key, type, ts, version, update: payload, fanOut: kind === RecordKind.FanOut };
  if (updates > 1) event.updates = updates;
  return event;
}

export function replayPage(store: Store, partition: number, from: number, limit: number, key: string | null, id: number): ReplayPage {
  checkRetained(store, partition, from, id);
  const onlyKey = key === null ? null : Buffer.from(key, 'utf8');
  const events: ReplayedEvent[] = [];
  let resume = from;
  let more = false;
  let scanned = 0;
  let bytes = 0;
  const full = () => events.length === limit || bytes >= MAX_PAGE_BYTES;
  const take = (entry: LogEntry): boolean => {
    if (entry.offset < resume) return true;
    if (full()) return false;
    bytes += entry.bytes;
    events.push(toReplayedEvent(entry));
    resume = entry.offset + 1;
    return true;
  };
  // Start at the segment holding `from`: the last one whose first offset is not above it.
  let start: LogKey = [partition, from];
  for (const segmentKey of store.log.getKeys({ start: [partition, from], end: [partition, 0], reverse: true, limit: 1 })) start = segmentKey as LogKey;
  for (const { value } of store.log.getRange({ start, end: [partition, Infinity] })) {
    if (full() || scanned >= MAX_SCANNED || !forEachSegmentEntry(value, onlyKey, take)) {
      more = true;
      break;
    }
    scanned += segmentEntryCount(value);
    resume = Math.max(resume, segmentLastOffset(value) + 1);
  }
  return { events, resume, more };
}

/**
 * The entries of `key` that took its record from version `fromVersion` to `toVersion`, oldest
 * first; null when the log no longer holds them all (retention, the log was off, too many, or
 * further back than a bounded scan reaches).
 */
export function missedEntries(store: Store, partition: number, key: string, fromVersion: number, toVersion: number): ReplayedEvent[] | null {
  if (fromVersion > toVersion || toVersion - fromVersion > MAX_RECOVERED) return null;
  if (fromVersion === toVersion) return [];
  const onlyKey = Buffer.from(key, 'utf8');
  // Newest segment first; within a segment the entries come oldest first.
  const newestFirst: LogEntry[][] = [];
  let reached = false;
  let scanned = 0;
  for (const { value } of store.log.getRange({ start: [partition + 1, 0], end: [partition, 0], reverse: true })) {
    const inSegment: LogEntry[] = [];
    forEachSegmentEntry(value, onlyKey, (entry) => {
      if (entry.version <= fromVersion) reached = true;
      else if (entry.version <= toVersion) inSegment.push(entry);
      return true;
    });
    newestFirst.push(inSegment);
    if (inSegment.length > 0 && inSegment[0]!.version - inSegment[0]!.updates === fromVersion) reached = true;
    if (reached) break;
    scanned += segmentEntryCount(value);
    if (scanned >= MAX_SCANNED) return null;
  }
  const missed = newestFirst.reverse().flat();
  // Every version accounted for (an entry moves it by its updates): a gap means the log was off for a while.
  let versions = 0;
  for (const entry of missed) versions += entry.updates;
  if (!reached || versions !== toVersion - fromVersion) return null;
  return missed.map(toReplayedEvent);
}
