// The update document a route produces for one key, with every value already resolved from the
// event (no references left): what the front end writes into a ring record and the owning worker
// applies. MongoDB-style operators over dotted paths of a record's `fields`.

export const UPDATE_OPERATORS = ['$set', '$setOnInsert', '$unset', '$inc', '$min', '$max', '$addToSet', '$push'] as const;
export type UpdateOperator = (typeof UPDATE_OPERATORS)[number];

/** `$push` with a cap: append `$each`, then keep the last `-$slice` elements. */
export interface PushSpec {
  $each: unknown[];
  $slice?: number;
}

/** Operator → dotted path → resolved value (for `$push`, a value or a PushSpec). */
export type UpdateDoc = Partial<Record<UpdateOperator, Record<string, unknown>>>;

/**
 * Property names that could reach an object's prototype: refused as event types and data field
 * names (main/ingest/validate.ts), as path segments in routes, and never written by an operator.
 */
export const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** MongoDB's equality for `$addToSet`: maps field by field in order, arrays item by item, NaN equal to NaN. */
export function structurallyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => structurallyEqual(item, b[i]));
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  return aKeys.every((key, i) => key === bKeys[i] && structurallyEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}
