// Updates of one fan-out key from several events of one pub, folded into one equivalent update, so
// the key's worker reads, applies and logs one record instead of one per event (a hunt's record
// gets an update from every clue found in it). Folding is exact: the folded update leaves the
// record as applying the updates one by one would, and moves its `version` by the number folded.
// Only updates of one ts fold (ingest.ts): the record's one ts is a new key's firstTs and its lastTs.
//
//   $set: the last value           $setOnInsert: the first (only the first could insert)
//   $unset: once                   $inc: the sum, while increments and sum are safe integers
//   $min/$max: the least/greatest (only shapes whose operands are all numbers or all strings fold;
//              never NaN)
//   $addToSet: the distinct values in first-seen order    $push: the lists joined, cut to $slice
import { structurallyEqual } from '../../shared/update-ops.js';
import { resolveValues, type CompiledUpdate, type EventContext } from './routes.js';

/** Most updates one record carries (its count is a u16 in the ring record). */
export const MAX_FOLDED_UPDATES = 0xffff;

export class FoldedUpdate {
  /** Updates folded in so far. */
  updates = 1;
  /** Per operation: the folded value; for `$addToSet` and `$push`, the list of values to add. */
  readonly values: unknown[] = [];
  private static readonly next: unknown[] = [];

  constructor(
    readonly update: CompiledUpdate,
    first: EventContext,
  ) {
    const { operations } = update;
    resolveValues(update, first, this.values);
    for (let i = 0; i < operations.length; i++) {
      const { operator, each, slice } = operations[i]!;
      if (operator === '$addToSet') this.values[i] = addDistinct([], each ? (this.values[i] as unknown[]) : [this.values[i]]);
      else if (operator === '$push') this.values[i] = cut(each ? (this.values[i] as unknown[]) : [this.values[i]], slice);
    }
  }

  /** Folds one more event's update in; false, with nothing changed, when it cannot be exact. */
  fold(event: EventContext): boolean {
    const { operations } = this.update;
    const values = this.values;
    const next = resolveValues(this.update, event, FoldedUpdate.next);
    for (let i = 0; i < operations.length; i++) {
      const operator = operations[i]!.operator;
      const a = values[i] as number;
      const b = next[i] as number;
      if (operator === '$inc' && !(Number.isSafeInteger(a) && Number.isSafeInteger(b) && Number.isSafeInteger(a + b))) return false;
      // NaN compares with nothing: one by one, a later value could still replace the current one.
      if ((operator === '$min' || operator === '$max') && (Number.isNaN(a) || Number.isNaN(b))) return false;
    }
    for (let i = 0; i < operations.length; i++) {
      const { operator, each, slice } = operations[i]!;
      const value = next[i];
      switch (operator) {
        case '$set':
          values[i] = value;
          break;
        case '$inc':
          values[i] = (values[i] as number) + (value as number);
          break;
        case '$min':
          if ((value as number) < (values[i] as number)) values[i] = value;
          break;
        case '$max':
          if ((value as number) > (values[i] as number)) values[i] = value;
          break;
        case '$addToSet':
          addDistinct(values[i] as unknown[], each ? (value as unknown[]) : [value]);
          break;
        case '$push': {
          const list = values[i] as unknown[];
          if (each) list.push(...(value as unknown[]));
          else list.push(value);
          // Cut now and then, not per event; finished() makes the last cut.
          if (slice !== undefined && list.length > 2 * Math.abs(slice) + 16) values[i] = cut(list, slice);
          break;
        }
        // $setOnInsert keeps the first value; $unset has nothing to fold.
      }
    }
    this.updates++;
    return true;
  }

  /** The folded values to write (`values`, with `$push` lists cut to their `$slice`). */
  finished(): unknown[] {
    const { operations } = this.update;
    for (let i = 0; i < operations.length; i++) {
      const { operator, slice } = operations[i]!;
      if (operator === '$push') this.values[i] = cut(this.values[i] as unknown[], slice);
    }
    return this.values;
  }
}

function addDistinct(into: unknown[], values: unknown[]): unknown[] {
  for (const value of values) if (!into.some((item) => structurallyEqual(item, value))) into.push(value);
  return into;
}

/** What `$slice` keeps: the first N (positive) or last N (negative); the same after any later push. */
function cut(list: unknown[], slice: number | undefined): unknown[] {
  if (slice === undefined) return list;
  if (slice >= 0) return list.length > slice ? list.slice(0, slice) : list;
  return list.length > -slice ? list.slice(list.length + slice) : list;
}
