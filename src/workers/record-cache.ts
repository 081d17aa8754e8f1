// A worker's decoded metadata records, so hot keys are neither read nor decoded from LMDB per event
// and each key touched in a batch is encoded and written once at commit. Only the owning worker
// writes these keys, so the cache never goes stale; it is bounded, oldest-inserted out first.
//
// Records are found by the key's hash and UTF-8 bytes as they lie in the ring, so a hit decodes no
// string: the key's string is made once, when the record enters the cache. An ASCII key (the
// usual case) is compared with that string, whose characters are its bytes: a second copy of the
// key as bytes would cost memory per cached key and, on a lookup of a cold key, more cache misses
// (a typed array is an object and a separate backing store).
import { sameBytes } from '../shared/byte-ranges.js';
import type { MetaRecord } from '../shared/metadata.js';

export class CachedRecord {
  /** Batch number in which this record was last changed (and so must be written). */
  dirtyIn = -1;
  /** Another cached record whose key has the same hash (its low 30 bits). */
  sameHash: CachedRecord | null = null;
  /** The key's UTF-8 bytes when it is not all ASCII; null when the string's characters are its bytes. */
  private readonly utf8: Uint8Array | null;

  constructor(
    readonly key: string,
    readonly keyHash: number,
    /** The store holding the key (its partition's). */
    readonly store: number,
    public meta: MetaRecord,
  ) {
    // Equal lengths: every character took one byte, so all are ASCII.
    this.utf8 = Buffer.byteLength(key, 'utf8') === key.length ? null : Buffer.from(key, 'utf8');
  }

  /** The key as UTF-8. */
  keyBytes(): Uint8Array {
    return this.utf8 ?? Buffer.from(this.key, 'latin1');
  }

  hasKey(bytes: Uint8Array, start: number, end: number): boolean {
    const { utf8, key } = this;
    if (utf8 !== null) return utf8.length === end - start && sameBytes(utf8, 0, bytes, start, utf8.length);
    const length = key.length;
    if (length !== end - start) return false;
    for (let i = 0; i < length; i++) if (key.charCodeAt(i) !== bytes[start + i]) return false;
    return true;
  }
}

/**
 * The Map key of a hash: its low 30 bits, which V8 keeps as a small integer (a full u32 above 2^30
 * is a heap number, slower to hash and compare). Records of equal keys chain as for equal hashes.
 */
const slotOf = (keyHash: number): number => keyHash & 0x3fffffff;

export class RecordCache {
  /** First record of each slot; the rest hang off `sameHash`. Map order is insertion order. */
  private readonly byHash = new Map<number, CachedRecord>();
  private records = 0;

  constructor(private readonly maxRecords: number) {}

  get(keyHash: number, bytes: Uint8Array, start: number, end: number): CachedRecord | undefined {
    let record = this.byHash.get(slotOf(keyHash));
    while (record !== undefined && !record.hasKey(bytes, start, end)) record = record.sameHash ?? undefined;
    return record;
  }

  add(record: CachedRecord): void {
    const first = this.byHash.get(slotOf(record.keyHash));
    if (first === undefined) this.byHash.set(slotOf(record.keyHash), record);
    else {
      record.sameHash = first.sameHash;
      first.sameHash = record;
    }
    this.records++;
  }

  /** Drops a record (its in-memory state is no longer the truth; LMDB is). */
  forget(record: CachedRecord): void {
    const slot = slotOf(record.keyHash);
    const first = this.byHash.get(slot);
    if (first === record) {
      if (record.sameHash === null) this.byHash.delete(slot);
      else this.byHash.set(slot, record.sameHash);
    } else {
      let previous = first;
      while (previous !== undefined && previous !== null && previous.sameHash !== record) previous = previous.sameHash ?? undefined;
      if (previous === undefined || previous === null) return;
      previous.sameHash = record.sameHash;
    }
    record.sameHash = null;
    this.records--;
  }

  /** Drops every record. Call only when nothing is dirty. */
  clear(): void {
    this.byHash.clear();
    this.records = 0;
  }

  /** Drops the oldest records over the bound. Call only when nothing is dirty. */
  trim(): void {
    if (this.records <= this.maxRecords) return;
    for (const [slot, first] of this.byHash) {
      if (this.records <= this.maxRecords) break;
      this.byHash.delete(slot);
      for (let r: CachedRecord | null = first; r !== null; r = r.sameHash) this.records--;
    }
  }
}
