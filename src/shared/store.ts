// The LMDB layout, opened identically by the front end (readers) and the partition workers
// (writers): lmdb-js shares one native environment per path inside a process, and it requires the
// same options in every thread.
//
// The partitions are grouped into S stores, each an LMDB environment of its own in
// DATA_DIR/stores/<s> (partition p in store p mod S; partition.ts). A store has one writer, the
// worker that owns it, so no write lock is shared by two workers. Each store holds, for its
// partitions:
//   meta        user key (string)  → MetaRecord (meta-codec.ts)
//   partitions  partition (uint32) → offset of the last event applied to it
//   producers   [partition, producer name] → ProducerState (highest applied seq, last write time)
//   log         [partition, offset] → what the partition applied (event-log.ts), when retention is on
//   rings       acceptor (uint32) → u32: through which record of that acceptor's inbound ring
//               this store has applied, so a replacement worker skips what its predecessor
//               committed. Rings live as long as the process: the engine clears these at start.
//   positions   partition (uint32) → LogPosition, in cluster mode: where in the Kafka events topic
//               the partition's applied state ends, written with that state (exactly-once effects).
//   unlogged    [partition, changelog key] → nothing, in cluster mode: what the partition changed
//               since its last write to the changelog topic (workers/changelog-writer.ts), so a
//               restart writes it too
//   logged      partition (uint32) → ChangelogPosition: the position of the partition's last write to
//               the changelog topic (the changelog holds the state as of there)
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
import { partitionOf, storeOf, type Layout } from './partition.js';

export type ProducerKey = [partition: number, producer: string];

export interface Store {
  root: RootDatabase;
  meta: Database<Buffer, string>;
  partitions: Database<number, number>;
  producers: Database<Buffer, ProducerKey>;
  log: Database<Buffer, [number, number]>;
  rings: Database<Buffer, number>;
  positions: Database<Buffer, number>;
  unlogged: Database<Buffer, UnloggedKey>;
  logged: Database<Buffer, number>;
}

/** A changelog entry a partition has not written yet: the user key, or a NUL-prefixed one (changelog-format.ts). */
export type UnloggedKey = [partition: number, changelogKey: string];

const RING_MARK_BYTES = 4;

/** A ring mark: through which record (u32, wrapping, as RingReader counts them) a store applied a ring. */
export function encodeRingMark(through: number): Buffer {
  const mark = Buffer.allocUnsafe(RING_MARK_BYTES);
  mark.writeUInt32LE(through >>> 0, 0);
  return mark;
}

export function decodeRingMark(stored: Buffer): number {
  if (stored.length !== RING_MARK_BYTES) throw new Error(`ring mark of ${stored.length} bytes, expected ${RING_MARK_BYTES}`);
  return stored.readUInt32LE(0);
}

/** What a partition remembers of an idempotent producer, written with the events it applies. */
export interface ProducerState {
  /** Highest `seq` of the producer's pubs applied to this partition. */
  seq: number;
  /** When the partition last applied one of its events (ms since the epoch). */
  seenMs: number;
}

export const encodeProducerState = (state: ProducerState): Buffer => encodeDoubles(state.seq, state.seenMs);

export function decodeProducerState(stored: Buffer): ProducerState {
  const [seq, seenMs] = decodeDoubles(stored, 'producer state');
  return { seq, seenMs };
}

/**
 * Where a partition's applied state ends in the events topic (cluster mode): the records of
 * message `offset` before `applied` are applied (a commit may cut a message's batch), and every
 * message before it.
 */
export interface LogPosition {
  offset: number;
  applied: number;
}

export const encodeLogPosition = (position: LogPosition): Buffer => encodeDoubles(position.offset, position.applied);

export function decodeLogPosition(stored: Buffer): LogPosition {
  const [offset, applied] = decodeDoubles(stored, 'log position');
  return { offset, applied };
}

/** A partition's state as of a LogPosition, with its engine offset (the partitions database): what a changelog write covers. */
export interface ChangelogPosition extends LogPosition {
  engineOffset: number;
}

export const encodeChangelogPosition = (position: ChangelogPosition): Buffer => encodeDoubles(position.offset, position.applied, position.engineOffset);

export function decodeChangelogPosition(stored: Buffer): ChangelogPosition {
  const [offset, applied, engineOffset] = decodeDoubles(stored, 'changelog position', 3);
  return { offset, applied, engineOffset };
}

/** Float64s, little-endian: the stored form of a ProducerState, a LogPosition and a ChangelogPosition. */
function encodeDoubles(...values: number[]): Buffer {
  const buf = Buffer.allocUnsafe(8 * values.length);
  values.forEach((value, i) => buf.writeDoubleLE(value, 8 * i));
  return buf;
}

function decodeDoubles(stored: Buffer, what: string, count = 2): Float64Array {
  if (stored.length !== 8 * count) throw new Error(`${what} of ${stored.length} bytes, expected ${8 * count}`);
  return Float64Array.from({ length: count }, (_, i) => stored.readDoubleLE(8 * i));
}

/** The one environment of a format-2 data directory (before stores), for the upgrade. */
export function legacyLmdbPath(dataDir: string): string {
  return path.join(dataDir, 'lmdb');
}

/** The directory holding the stores of a data directory. */
export function storesPath(dataDir: string): string {
  return path.join(dataDir, 'stores');
}

export function storePath(dataDir: string, store: number): string {
  return path.join(storesPath(dataDir), String(store));
}

/** Environment options; every thread (and the layout benchmark) opens LMDB with exactly these. */
export const LMDB_ENV_OPTIONS = {
  noMetaSync: true,
  // lmdb-js turns overlappingSync on by default on Linux; it applies to its asynchronous writes,
  // not to the workers' transactionSync commits. Off, so the mode is exactly LMDB's NOMETASYNC.
  overlappingSync: false,
  maxDbs: 12,
  // Applies when the environment is created. 16 KiB pages make random-key puts and commits cheaper
  // than 4 KiB ones (fewer, shallower pages to copy on write; measured:
  // docs/performance.md#measurements-behind-design-decisions).
  pageSize: 16384,
  // 1 GiB to start; lmdb-js grows the map when it fills.
  mapSize: 2 ** 30,
} as const;

/** Opens the LMDB environment at `envPath` with the engine's options and databases. */
export function openStore(envPath: string): Store {
  const root = open({ path: envPath, ...LMDB_ENV_OPTIONS });
  return {
    root,
    meta: root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' }),
    partitions: root.openDB<number, number>({ name: 'partitions', encoding: 'ordered-binary', keyEncoding: 'uint32' }),
    producers: root.openDB<Buffer, ProducerKey>({ name: 'producers', encoding: 'binary' }),
    log: root.openDB<Buffer, [number, number]>({ name: 'log', encoding: 'binary' }),
    rings: root.openDB<Buffer, number>({ name: 'rings', encoding: 'binary', keyEncoding: 'uint32' }),
    positions: root.openDB<Buffer, number>({ name: 'positions', encoding: 'binary', keyEncoding: 'uint32' }),
    unlogged: root.openDB<Buffer, UnloggedKey>({ name: 'unlogged', encoding: 'binary' }),
    logged: root.openDB<Buffer, number>({ name: 'logged', encoding: 'binary', keyEncoding: 'uint32' }),
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

/** All the stores of a data directory (or some of them: a worker opens only the ones it owns). */
export class StoreSet {
  private constructor(
    /** By store index; undefined for a store this set did not open. */
    private readonly stores: (Store | undefined)[],
    readonly layout: Layout,
  ) {}

  /** Opens the stores `which` (default: all) of a data directory laid out as `layout`. */
  static open(dataDir: string, layout: Layout, which: number[] = [...Array(layout.stores).keys()]): StoreSet {
    const stores: (Store | undefined)[] = new Array(layout.stores).fill(undefined);
    try {
      for (const s of which) stores[s] = openStore(storePath(dataDir, s));
    } catch (error) {
      for (const store of stores) void store?.root.close();
      throw error;
    }
    return new StoreSet(stores, layout);
  }

  /** Store number `s` (it must be one this set opened). */
  store(s: number): Store {
    const store = this.stores[s];
    if (store === undefined) throw new Error(`store ${s} is not open here`);
    return store;
  }

  /** The store of a partition. */
  ofPartition(partition: number): Store {
    return this.store(storeOf(partition, this.layout.stores));
  }

  /** The store that holds a key's record. */
  ofKey(key: string): Store {
    return this.ofPartition(partitionOf(key, this.layout.partitions));
  }

  /** The stores this set opened. */
  get open(): Store[] {
    return this.stores.filter((store): store is Store => store !== undefined);
  }

  /** The partition's last applied offset (0: none). */
  appliedOffset(partition: number): number {
    return this.ofPartition(partition).partitions.get(partition) ?? 0;
  }

  /** The partition's position in the events topic (cluster mode; the start of the topic: none yet). */
  logPosition(partition: number): LogPosition {
    const stored = this.ofPartition(partition).positions.getBinary(partition);
    return stored === undefined ? { offset: 0, applied: 0 } : decodeLogPosition(stored);
  }

  /** Where the partition's last write to the changelog topic ended (cluster mode; undefined: none). */
  loggedPosition(partition: number): ChangelogPosition | undefined {
    const stored = this.ofPartition(partition).logged.getBinary(partition);
    return stored === undefined ? undefined : decodeChangelogPosition(stored);
  }

  /** Forgets every store's ring marks: the rings they counted belonged to an earlier process. */
  clearRingMarks(): void {
    for (const store of this.open) store.rings.clearSync();
  }

  /** lmdb-js keeps a thread's read snapshot until a timer fires; start a fresh one in every store. */
  resetReadTxns(): void {
    for (const store of this.open) store.root.resetReadTxn();
  }

  async close(): Promise<void> {
    await Promise.all(this.open.map((store) => store.root.close()));
  }
}

export function readMeta(stores: StoreSet, key: string): MetaRecord | undefined {
  const stored = stores.ofKey(key).meta.getBinary(key);
  return stored === undefined ? undefined : decodeMeta(stored);
}
