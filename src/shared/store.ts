// The LMDB layout, opened identically by the front end (readers) and the partition workers
// (writers): lmdb-js shares one native environment per path inside a process, and it requires the
// same options in every thread.
//
// One environment holds every partition (docs/performance.md, "Storage layout", has the
// measurement behind this choice):
//   meta        user key (string)  → MetaRecord (meta-codec.ts)
//   partitions  partition (uint32) → offset of the last event applied to it
//   producers   [partition, producer name] → ProducerState (highest applied seq, last write time)
//   log         [partition, offset] → what the partition applied (event-log.ts), when retention is on
//
// The environment is opened with MDB_NOMETASYNC (lmdb-js `noMetaSync`), in both durability modes.
// LMDB's documentation: a commit then flushes its data pages (fdatasync) and writes the meta page
// that points at them without flushing it; "this optimization maintains database integrity, but a
// system crash may undo the last committed transaction". The meta page reaches the disk only after
// the pages it points to, so a power loss leaves the previous or the new transaction, never a tree
// that points at pages the disk does not have (MDB_NOSYNC, used before, promised that only on
// filesystems that preserve write order, which ext4 does not). In `sync` mode a worker then calls
// flushToDisk() (mdb_env_sync) and acks only when that completes, so the acked commit's meta page is
// on disk too; the next batch is merged in memory meanwhile. docs/guarantees.md has the argument.
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { decodeMeta } from './meta-codec.js';
import type { MetaRecord } from './metadata.js';

export type ProducerKey = [partition: number, producer: string];

export interface Store {
  root: RootDatabase;
  meta: Database<Buffer, string>;
  partitions: Database<number, number>;
  producers: Database<Buffer, ProducerKey>;
  log: Database<Buffer, [number, number]>;
}

/** What a partition remembers of an idempotent producer, written with the events it applies. */
export interface ProducerState {
  /** Highest `seq` of the producer's pubs applied to this partition. */
  seq: number;
  /** When the partition last applied one of its events (ms since the epoch). */
  seenMs: number;
}

const PRODUCER_STATE_BYTES = 16;

export function encodeProducerState(state: ProducerState): Buffer {
  const buf = Buffer.allocUnsafe(PRODUCER_STATE_BYTES);
  buf.writeDoubleLE(state.seq, 0);
  buf.writeDoubleLE(state.seenMs, 8);
  return buf;
}

export function decodeProducerState(stored: Buffer): ProducerState {
  if (stored.length !== PRODUCER_STATE_BYTES) throw new Error(`producer state of ${stored.length} bytes, expected ${PRODUCER_STATE_BYTES}`);
  return { seq: stored.readDoubleLE(0), seenMs: stored.readDoubleLE(8) };
}

export function lmdbPath(dataDir: string): string {
  return path.join(dataDir, 'lmdb');
}

/** Environment options; every thread (and the layout benchmark) opens LMDB with exactly these. */
export const LMDB_ENV_OPTIONS = {
  noMetaSync: true,
  // lmdb-js turns overlappingSync on by default on Linux; it applies to its asynchronous writes,
  // not to the workers' transactionSync commits. Off, so the mode is exactly LMDB's NOMETASYNC.
  overlappingSync: false,
  maxDbs: 8,
  // Applies when the environment is created. 16 KiB pages make random-key puts and commits cheaper
  // than 4 KiB ones (fewer, shallower pages to copy on write; measured:
  // docs/performance.md#measurements-behind-design-decisions).
  pageSize: 16384,
  // 1 GiB to start; lmdb-js grows the map when it fills.
  mapSize: 2 ** 30,
} as const;

export function openStore(dataDir: string): Store {
  const root = open({ path: lmdbPath(dataDir), ...LMDB_ENV_OPTIONS });
  return {
    root,
    meta: root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' }),
    partitions: root.openDB<number, number>({ name: 'partitions', encoding: 'ordered-binary', keyEncoding: 'uint32' }),
    producers: root.openDB<Buffer, ProducerKey>({ name: 'producers', encoding: 'binary' }),
    log: root.openDB<Buffer, [number, number]>({ name: 'log', encoding: 'binary' }),
  };
}

/** Resolves once everything committed before the call is on disk (fsync). */
export function flushToDisk(store: Store): Promise<void> {
  return new Promise((resolve, reject) => {
    // RootDatabase.sync(callback) runs mdb_env_sync(force) on the libuv pool; it is missing from
    // lmdb-js's typings.
    const root = store.root as unknown as { sync(callback: (error?: Error) => void): void };
    root.sync((error) => (error ? reject(error) : resolve()));
  });
}

export function readMeta(store: Store, key: string): MetaRecord | undefined {
  const stored = store.meta.getBinary(key);
  return stored === undefined ? undefined : decodeMeta(stored);
}
