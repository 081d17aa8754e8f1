// A worker's decoded metadata records, so hot keys are neither read nor decoded from LMDB per event
// and each key touched in a batch is encoded and written once at commit. Only the owning worker
// writes these keys, so the cache never goes stale; it is bounded, oldest-inserted out first.
import type { MetaRecord } from '../shared/metadata.js';

export class CachedRecord {
  /** Batch number in which this record was last changed (and so must be written). */
  dirtyIn = -1;
  constructor(
    readonly key: string,
    public meta: MetaRecord,
  ) {}
}

export class RecordCache {
  private readonly records = new Map<string, CachedRecord>();

  constructor(private readonly maxRecords: number) {}

  get(key: string): CachedRecord | undefined {
    return this.records.get(key);
  }

  add(record: CachedRecord): void {
    this.records.set(record.key, record);
  }

  forget(key: string): void {
    this.records.delete(key);
  }

  /** Drops the oldest records over the bound. Call only when nothing is dirty. */
  trim(): void {
    let excess = this.records.size - this.maxRecords;
    if (excess <= 0) return;
    for (const key of this.records.keys()) {
      if (excess-- <= 0) break;
      this.records.delete(key);
    }
  }
}
