// Applies a resolved update document (update-ops.ts) to a record's `fields`, with MongoDB's
// semantics where they overlap: `$inc` on a missing field starts from 0, `$min`/`$max` set a
// missing field, `$addToSet` compares values structurally (maps field by field, in order), `$push`
// with `$slice` keeps the first (positive) or last (negative) N. A type mismatch skips that one
// operation and is reported back; it never throws and never touches a prototype.
import { RecordKind, type EventRecordReader } from '../shared/event-record.js';
import type { MetaRecord } from '../shared/metadata.js';
import { countEvent } from './default-merge.js';
import type { UpdateReader } from './update-reader.js';
import { FORBIDDEN_NAMES, structurallyEqual, type PushSpec, type UpdateDoc, type UpdateOperator } from '../shared/update-ops.js';

export interface OperationError {
  operator: UpdateOperator;
  path: string;
  reason: string;
}

type Container = Record<string, unknown>;

const isMap = (value: unknown): value is Container =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);

/**
 * The map holding `path`'s last segment, creating missing maps on the way when `create` is set;
 * a string describing the problem when a segment is in the way. The path's segments were checked
 * against FORBIDDEN_NAMES before (PathPlan).
 */
function containerOf(fields: Container, segments: string[], create: boolean): Container | string | null {
  let at = fields;
  for (let i = 0; i < segments.length - 1; i++) {
    const segment = segments[i]!;
    const next = Object.hasOwn(at, segment) ? at[segment] : undefined;
    if (next === undefined) {
      if (!create) return null;
      const made: Container = {};
      at[segment] = made;
      at = made;
    } else if (isMap(next)) at = next;
    else return `${segments.slice(0, i + 1).join('.')} is not a map`;
  }
  return at;
}

function compare(current: unknown, value: unknown): number | null {
  if (typeof current === 'number' && typeof value === 'number') return current - value;
  if (typeof current === 'string' && typeof value === 'string') return current < value ? -1 : current > value ? 1 : 0;
  return null;
}

/**
 * A routed update of a metadata record: `version` and `lastTs` move for every update; `count`,
 * `lastType` and the per-type counts only for the event's own key (not for fan-out keys). A
 * fan-out record may carry `updates` events' updates folded into one (main/routes/update-fold.ts).
 */
export function applyRoutedUpdate(meta: MetaRecord, ownKey: boolean, type: string, ts: number, doc: UpdateDoc, errors: OperationError[], updates = 1): void {
  applyUpdate(meta.fields, doc, countRoutedUpdate(meta, ownKey, type, ts, updates), errors);
}

/**
 * applyRoutedUpdate for the routed or fan-out record `record` has just read, its document read from
 * the ring by `updates` (`view`: the ring's); false, with nothing changed, when `updates` does not
 * cover the document (the caller then decodes it with msgpackr). An empty document is no operations.
 */
export function applyUpdateRecord(meta: MetaRecord, record: EventRecordReader, view: DataView, updates: UpdateReader, errors: OperationError[]): boolean {
  const { dataStart, dataEnd } = record;
  // An existing record's $setOnInsert is passed over unread.
  if (dataStart !== dataEnd && !updates.read(record.buf, view, dataStart, dataEnd, meta.version > 0)) {
    updates.clear();
    return false;
  }
  const isInsert = countRoutedUpdate(meta, record.kind === RecordKind.Routed, record.type, record.ts, record.updates);
  for (let i = 0; i < updates.count; i++) applyOperation(meta.fields, updates.operators[i]!, updates.paths[i]!, updates.values[i], isInsert, errors);
  updates.clear();
  return true;
}

/** Moves the counters of a routed update (see applyRoutedUpdate); true when it creates the record. */
export function countRoutedUpdate(meta: MetaRecord, ownKey: boolean, type: string, ts: number, updates: number): boolean {
  const isInsert = meta.version === 0;
  if (ownKey) countEvent(meta, type, ts);
  else {
    meta.version += updates;
    meta.lastTs = ts;
  }
  return isInsert;
}

/** Applies `doc` to `fields`; `isInsert` when the record did not exist before this update. */
export function applyUpdate(fields: Container, doc: UpdateDoc, isInsert: boolean, errors: OperationError[]): void {
  for (const operator in doc) {
    const operations = doc[operator as UpdateOperator]!;
    for (const path in operations) applyOperation(fields, operator as UpdateOperator, path, operations[path], isInsert, errors);
  }
}

/** One operation of an update document; a problem is recorded in `errors`, never thrown. */
export function applyOperation(fields: Container, operator: UpdateOperator, path: string, value: unknown, isInsert: boolean, errors: OperationError[]): void {
  if (operator === '$setOnInsert' && !isInsert) return;
  const problem = applyOne(fields, operator, path, value);
  if (problem !== null) errors.push({ operator, path, reason: problem });
}

/** A path as applyOne walks it, worked out once per path: paths come from the routes file, so they are few. */
interface PathPlan {
  segments: string[];
  /** Why the path may not be written (a forbidden segment), or null. */
  problem: string | null;
}

const planOfPath = new Map<string, PathPlan>();
const PATH_CACHE_LIMIT = 10_000;

function planOf(path: string): PathPlan {
  let plan = planOfPath.get(path);
  if (plan === undefined) {
    if (planOfPath.size >= PATH_CACHE_LIMIT) planOfPath.clear();
    const segments = path.split('.');
    const forbidden = segments.find((segment) => FORBIDDEN_NAMES.has(segment));
    plan = { segments, problem: forbidden === undefined ? null : `path segment ${JSON.stringify(forbidden)} is not allowed` };
    planOfPath.set(path, plan);
  }
  return plan;
}

function applyOne(fields: Container, operator: UpdateOperator, path: string, value: unknown): string | null {
  const { segments, problem } = planOf(path);
  if (problem !== null) return problem;
  const container = containerOf(fields, segments, operator !== '$unset');
  if (typeof container === 'string') return container;
  if (container === null) return null; // $unset of a path whose parent does not exist
  const name = segments[segments.length - 1]!;
  const exists = Object.hasOwn(container, name);
  const current = exists ? container[name] : undefined;
  switch (operator) {
    case '$set':
    case '$setOnInsert':
      container[name] = value;
      return null;
    case '$unset':
      delete container[name];
      return null;
    case '$inc':
      if (typeof value !== 'number') return `$inc needs a number, got ${typeof value}`;
      if (!exists) container[name] = value;
      else if (typeof current === 'number') container[name] = current + value;
      else return `cannot $inc a ${describe(current)}`;
      return null;
    case '$min':
    case '$max': {
      if (!exists) {
        container[name] = value;
        return null;
      }
      const order = compare(current, value);
      if (order === null) return `cannot compare a ${describe(current)} with a ${describe(value)}`;
      if (operator === '$min' ? order > 0 : order < 0) container[name] = value;
      return null;
    }
    case '$addToSet': {
      if (exists && !Array.isArray(current)) return `cannot $addToSet to a ${describe(current)}`;
      const set = exists ? (current as unknown[]) : (container[name] = []);
      const each = eachOf(value);
      if (each === null) addToSet(set, value);
      else for (const item of each) addToSet(set, item);
      return null;
    }
    case '$push': {
      if (exists && !Array.isArray(current)) return `cannot $push to a ${describe(current)}`;
      const list = exists ? (current as unknown[]) : (container[name] = []);
      const each = eachOf(value);
      if (each === null) {
        list.push(value);
        return null;
      }
      for (const item of each) list.push(item);
      const { $slice } = value as unknown as PushSpec;
      // Cut in place: the list is the record's own.
      if ($slice !== undefined) {
        if ($slice >= 0) list.length = Math.min(list.length, $slice);
        else if (list.length > -$slice) list.splice(0, list.length + $slice);
      }
      return null;
    }
  }
}

/** The values of a list operand given as {$each: [...]} ($push, $addToSet); null for a single value. */
const eachOf = (value: unknown): unknown[] | null => (isMap(value) && Array.isArray(value.$each) ? value.$each : null);

/** Adds `item` unless `set` holds a structurally equal member. A primitive is found with includes(), whose SameValueZero is structurallyEqual for primitives (NaN equals NaN). */
function addToSet(set: unknown[], item: unknown): void {
  if (typeof item !== 'object' || item === null) {
    if (!set.includes(item)) set.push(item);
    return;
  }
  for (let i = 0; i < set.length; i++) if (structurallyEqual(set[i], item)) return;
  set.push(item);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'binary';
  return typeof value === 'object' ? 'map' : typeof value;
}
