// The LMDB layout, opened identically by the front end (readers) and the partition workers
// (writers): lmdb-js shares one native environment per path inside a process, and it requires the
// same options in every thread.
//
// One environment holds every partition (see README, "Storage layout", for the measurement behind
// this choice):
//   meta        user key (string)  → MetaRecord (meta-codec.ts)
//   partitions  partition (uint32) → offset of the last event applied to it
//
// The environment is opened with noSync: commits never fsync on their own. Durability is the
// workers' job: in `sync` mode a worker calls flushToDisk() after its commits and acks only when
// that completes, so one fsync covers every commit before it (group commit), and the next batch is
// applied while the previous one is being flushed.
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { decodeMeta } from './meta-codec.js';
import type { MetaRecord } from './metadata.js';

export interface Store {
  root: RootDatabase;
  meta: Database<Buffer, string>;
  partitions: Database<number, number>;
}

export function lmdbPath(dataDir: string): string {
  return path.join(dataDir, 'lmdb');
}

/** Environment options; every thread (and the layout benchmark) opens LMDB with exactly these. */
export const LMDB_ENV_OPTIONS = {
  noSync: true,
  maxDbs: 8,
  // Applies when the environment is created. 16 KiB pages made random-key puts ~30% cheaper and
  // commits ~40% cheaper than 4 KiB ones here (fewer, shallower pages to copy on write).
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
