// Read-only listings served over HTTP: keys with their metadata in key order, paged, and the
// partitions with their owner, offsets and the owner's ring depth.
import { decodeMeta } from '../shared/meta-codec.js';
import type { MetaRecord } from '../shared/metadata.js';
import type { Store } from '../shared/store.js';

export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 100;

export interface KeyPage {
  keys: { key: string; meta: MetaRecord }[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/**
 * Keys starting with `prefix`, after `after` (exclusive), in key order (LMDB's: the UTF-8 bytes).
 * All partitions share one ordered LMDB database, so this is one range scan.
 */
export function listKeys(store: Store, prefix: string, after: string | null, limit: number): KeyPage {
  const start = after !== null && after > prefix ? after : prefix;
  const keys: KeyPage['keys'] = [];
  let more = false;
  for (const { key, value } of store.meta.getRange({ start: start === '' ? undefined : start })) {
    if (!key.startsWith(prefix)) break;
    if (key === after) continue;
    if (keys.length === limit) {
      more = true;
      break;
    }
    keys.push({ key, meta: decodeMeta(value) });
  }
  return { keys, next: more ? keys[keys.length - 1]!.key : null };
}

export interface PartitionInfo {
  partition: number;
  worker: number;
  /** Offset of the last event the front end routed to the partition. */
  lastOffset: number;
  /** Offset of the last event committed to LMDB for the partition. */
  appliedOffset: number;
  /** Bytes waiting in the owner worker's inbound ring (shared by its partitions). */
  workerRingBytes: number;
  /** Offsets the event log holds for the partition (null: none, or the log is off). */
  log: { first: number; last: number } | null;
}
