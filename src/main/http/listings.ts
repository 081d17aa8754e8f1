// Read-only listings served over HTTP: keys with their metadata in key order, paged, and the
// partitions with their owner, offsets and the owner's ring depth.
import { decodeMeta } from '../../shared/meta-codec.js';
import type { MetaRecord } from '../../shared/metadata.js';
import type { StoreSet } from '../../shared/store.js';

export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 100;

export interface KeyPage {
  keys: { key: string; meta: MetaRecord }[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/**
 * Keys starting with `prefix`, after `after` (exclusive), in key order (LMDB's: the UTF-8 bytes).
 * Each store is an ordered range scan; the page takes the first `limit` keys of their merge, and
 * reads only those keys' records. `served` (cluster mode) leaves out the keys of partitions this
 * host does not apply: their records here are an earlier holder's copy.
 */
export function listKeys(stores: StoreSet, prefix: string, after: string | null, limit: number, served: ((key: string) => boolean) | null = null): KeyPage {
  const start = after !== null && after > prefix ? after : prefix;
  const candidates: { key: string; bytes: Buffer; store: number }[] = [];
  stores.open.forEach((store, s) => {
    let taken = 0;
    for (const key of store.meta.getKeys({ start: start === '' ? undefined : start })) {
      if (!key.startsWith(prefix) || taken > limit) break;
      if (key === after || (served !== null && !served(key))) continue;
      candidates.push({ key, bytes: Buffer.from(key, 'utf8'), store: s });
      taken++;
    }
  });
  candidates.sort(byKeyBytes);
  const more = candidates.length > limit;
  const keys = candidates.slice(0, limit).map(({ key, store }) => ({ key, meta: decodeMeta(stores.open[store]!.meta.getBinary(key)!) }));
  return { keys, next: more ? keys[keys.length - 1]!.key : null };
}

/** LMDB's key order: by UTF-8 bytes (not UTF-16 code units, as string comparison would). */
function byKeyBytes(a: { bytes: Buffer }, b: { bytes: Buffer }): number {
  return Buffer.compare(a.bytes, b.bytes);
}

/**
 * One page from pages of the same listing (same prefix, after and limit) over disjoint sets of
 * keys: the first `limit` keys of their merge. Each page holds its set's first `limit` keys, so
 * these are the union's; there are more when a page said so or the merge has more than `limit`.
 * A key on two pages (two hosts that both thought they applied its partition during a rebalance)
 * is listed once.
 */
export function mergePages(pages: KeyPage[], limit: number): KeyPage {
  const seen = new Set<string>();
  const all: { key: string; meta: MetaRecord; bytes: Buffer }[] = [];
  for (const page of pages) {
    for (const entry of page.keys) {
      if (seen.has(entry.key)) continue;
      seen.add(entry.key);
      all.push({ ...entry, bytes: Buffer.from(entry.key, 'utf8') });
    }
  }
  all.sort(byKeyBytes);
  const keys = all.slice(0, limit).map(({ key, meta }) => ({ key, meta }));
  const more = all.length > limit || pages.some((page) => page.next !== null);
  return { keys, next: more && keys.length > 0 ? keys[keys.length - 1]!.key : null };
}

export interface PartitionInfo {
  partition: number;
  /** The store (LMDB environment) holding it. */
  store: number;
  worker: number;
  /** Events routed to the partition that its worker has not committed (or failed) yet. */
  pendingEvents: number;
  /** Offset of the last event committed to LMDB for the partition. */
  appliedOffset: number;
  /** Bytes waiting in the owner worker's inbound rings, from every acceptor (shared by its partitions). */
  workerRingBytes: number;
  /** Offsets the event log holds for the partition (null: none, or the log is off). */
  log: { first: number; last: number } | null;
}
