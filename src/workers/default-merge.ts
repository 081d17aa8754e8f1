// The metadata update applied when no routes are configured (DESIGN.md, "Metadata record"):
// counters and timestamps move, and the event's `data` is merged into `fields` key by key
// (shallow: a top-level key of `data` replaces the same key of `fields`).
import type { MetaRecord } from '../shared/metadata.js';

export function newMetaRecord(ts: number): MetaRecord {
  return { version: 0, count: 0, firstTs: ts, lastTs: ts, lastType: '', types: {}, fields: {} };
}

/** The counters an event moves on its own key's record, whatever updates its fields. */
export function countEvent(meta: MetaRecord, type: string, ts: number): void {
  meta.version++;
  meta.count++;
  meta.lastTs = ts;
  meta.lastType = type;
  const types = meta.types;
  types[type] = Object.hasOwn(types, type) ? types[type]! + 1 : 1;
}

export function applyDefaultMerge(
  meta: MetaRecord,
  type: string,
  ts: number,
  data: Record<string, unknown> | null,
): void {
  countEvent(meta, type, ts);
  if (data === null) return;
  const fields = meta.fields;
  for (const name in data) {
    // The front end rejects these names; checking again costs nothing and keeps prototypes safe
    // whatever reaches this point.
    if (name === '__proto__' || !Object.hasOwn(data, name)) continue;
    fields[name] = data[name];
  }
}
