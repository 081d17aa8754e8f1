// `hunt data upgrade DIR`: turns a format-2 data directory (one LMDB environment for every
// partition) into this engine's format 3 (the partitions grouped into stores), offline.
//
// Everything moves as it is stored (records, partition offsets, producers' seq marks, the event
// log), each entry into the store of its partition. engine.json is the commit point: until it says
// format 3 the old environment is what counts, and a rerun starts the copy over; after it, the old
// environment is kept beside the stores (lmdb.format2) until the operator removes it.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_WORKERS, newLayout } from '../shared/config.js';
import type { Layout } from '../shared/partition.js';
import { flushToDisk, legacyLmdbPath, openStore, StoreSet, storesPath, type Store } from '../shared/store.js';
import { DataDirError, FORMAT, lockDataDir, readEngineFile, writeEngineFile } from '../main/control/data-dir.js';

/** Entries written per transaction, so a large directory is not copied in one. */
const ENTRIES_PER_TRANSACTION = 10_000;

export interface UpgradeResult {
  layout: Layout;
  /** Entries copied, per database. */
  copied: { meta: number; partitions: number; producers: number; log: number };
  /** Where the old environment was kept. */
  backup: string;
}

export async function upgradeDataDir(dir: string, requestedStores: number | undefined): Promise<UpgradeResult> {
  const enginePath = path.join(dir, 'engine.json');
  if (!fs.existsSync(enginePath)) throw new DataDirError(`${dir} has no engine.json: not an engine's data directory`);
  const unlock = lockDataDir(dir);
  try {
    const file = readEngineFile(enginePath, dir, true);
    const partitions = file.partitions;
    const { stores } = newLayout({ partitions, stores: requestedStores }, DEFAULT_WORKERS);
    if (stores > partitions) throw new DataDirError(`--stores ${stores} is more than the directory's ${partitions} partitions`);
    const legacy = legacyLmdbPath(dir);
    if (!fs.existsSync(path.join(legacy, 'data.mdb'))) throw new DataDirError(`${legacy}/data.mdb is missing: nothing to upgrade`);
    // A copy left by an upgrade that did not finish (engine.json still says format 2) starts over.
    fs.rmSync(storesPath(dir), { recursive: true, force: true });

    const layout: Layout = { partitions, stores };
    let old: Store | null = openStore(legacy);
    let target: StoreSet | null = null;
    try {
      for (let s = 0; s < stores; s++) fs.mkdirSync(path.join(storesPath(dir), String(s)), { recursive: true });
      target = StoreSet.open(dir, layout);
      const [from, into] = [old, target];
      const copied = {
        meta: copy(from.meta.getRange(), (key) => into.ofKey(key as string), (store, key, value) => store.meta.putSync(key as string, value as Buffer)),
        partitions: copy(from.partitions.getRange(), (p) => into.ofPartition(p as number), (store, key, value) => store.partitions.putSync(key as number, value as number)),
        producers: copy(from.producers.getRange(), (key) => into.ofPartition((key as [number, string])[0]), (store, key, value) => store.producers.putSync(key as [number, string], value as Buffer)),
        log: copy(from.log.getRange(), (key) => into.ofPartition((key as [number, number])[0]), (store, key, value) => store.log.putSync(key as [number, number], value as Buffer)),
      };
      await Promise.all(target.open.map((store) => flushToDisk(store)));
      await target.close();
      target = null;
      await old.root.close();
      old = null;
      writeEngineFile(dir, { format: FORMAT, partitions, stores, createdAt: file.createdAt });
      const backup = path.join(dir, 'lmdb.format2');
      fs.renameSync(legacy, backup);
      return { layout, copied, backup };
    } finally {
      await target?.close();
      await old?.root.close();
    }
  } finally {
    unlock();
  }
}

/** Copies entries into the store `storeFor` names, ENTRIES_PER_TRANSACTION per transaction and store; returns how many. */
function copy(
  entries: Iterable<{ key: unknown; value: unknown }>,
  storeFor: (key: unknown) => Store,
  put: (store: Store, key: unknown, value: unknown) => void,
): number {
  const pending = new Map<Store, { key: unknown; value: unknown }[]>();
  let count = 0;
  const flush = (store: Store, list: { key: unknown; value: unknown }[]) => {
    store.root.transactionSync(() => {
      for (const { key, value } of list) put(store, key, value);
    });
    list.length = 0;
  };
  for (const { key, value } of entries) {
    const store = storeFor(key);
    let list = pending.get(store);
    if (list === undefined) pending.set(store, (list = []));
    // Values are views into the old environment's memory map: copy them before the map moves on.
    list.push({ key, value: Buffer.isBuffer(value) ? Buffer.from(value) : value });
    count++;
    if (list.length === ENTRIES_PER_TRANSACTION) flush(store, list);
  }
  for (const [store, list] of pending) if (list.length > 0) flush(store, list);
  return count;
}
