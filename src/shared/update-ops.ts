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

/** Path segments that could reach a prototype; refused in routes and never written. */
export const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
