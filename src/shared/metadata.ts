// The per-key metadata record: what is stored in LMDB and served to readers.

export interface MetaRecord {
  /** Changes applied to this record (every applied event that touched it). */
  version: number;
  /** Events whose key is this record's key. */
  count: number;
  firstTs: number;
  lastTs: number;
  lastType: string;
  /** Events per type. */
  types: Record<string, number>;
  /** What the update rules maintain; with no routes, every event's `data` merged in. */
  fields: Record<string, unknown>;
}
