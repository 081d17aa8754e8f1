// update-fold.ts's folding for the routed pub fast path (routed-scan.ts): the same exact rules, kept
// as which event supplies each operand instead of as resolved values, and written with the update's
// byte templates (route-bytes.ts). Only numbers are compared or summed here ($inc, $min, $max);
// an update whose operand is not a number starts a record of its own instead (never wrong, only
// one more record).
//
// `$addToSet` values are kept in order without removing repeats: the worker adds each value of
// `$each` only if the set lacks it, repeats within the list included, so the result is the same.
import type { BinaryWriter } from '../../shared/binary-writer.js';
import { numberBytes, readNumber } from '../../shared/msgpack-scalars.js';
import { HOLE_TS, writeTemplate, type OperationPlan, type ScannedEvents, type UpdatePlan } from './route-bytes.js';
import { writeListOperandHead, writeListOperandTail } from './routes.js';
import { MAX_FOLDED_UPDATES } from './update-fold.js';

export class ByteFold {
  /** Updates folded in so far. */
  updates = 1;
  plan!: UpdatePlan;
  /** Per operation (in document order): the event whose operand is kept ($set, $setOnInsert, $min, $max, $unset). */
  private chosen: number[] = [];
  /** Per operation: the sum ($inc) or the kept number ($min, $max). */
  private numbers: number[] = [];
  /** Per list operation: (event, item) pairs, flat, in order, the first `listLengths[k]` numbers. */
  private lists: number[][] = [];
  /** Kept apart from the lists so that starting over does not set an array's length (a runtime call). */
  private listLengths: number[] = [];

  /** Starts with event `i`'s update. */
  start(plan: UpdatePlan, events: ScannedEvents, i: number): void {
    this.plan = plan;
    this.updates = 1;
    const { operations } = plan;
    for (let k = 0; k < operations.length; k++) {
      const operation = operations[k]!;
      this.chosen[k] = i;
      this.numbers[k] = numberOf(operation, events, i);
      this.listLengths[k] = 0;
      this.addItems(k, operation, i);
    }
  }

  /** Folds event `i`'s update in; false, with nothing changed, when that would not be exact. */
  fold(events: ScannedEvents, i: number): boolean {
    if (this.updates >= MAX_FOLDED_UPDATES) return false;
    const { operations } = this.plan;
    // First whether every operation folds exactly, then fold them: all or nothing.
    for (let k = 0; k < operations.length; k++) {
      const operation = operations[k]!;
      const { operator } = operation;
      if (operator === '$inc' || operator === '$min' || operator === '$max') {
        const a = this.numbers[k]!;
        const b = numberOf(operation, events, i);
        if (Number.isNaN(a) || Number.isNaN(b)) return false;
        if (operator === '$inc' && !(Number.isSafeInteger(a) && Number.isSafeInteger(b) && Number.isSafeInteger(a + b))) return false;
      }
    }
    for (let k = 0; k < operations.length; k++) {
      const operation = operations[k]!;
      switch (operation.operator) {
        case '$set':
          this.chosen[k] = i;
          break;
        case '$inc':
          this.numbers[k] = this.numbers[k]! + numberOf(operation, events, i);
          break;
        case '$min':
        case '$max': {
          const value = numberOf(operation, events, i);
          if (operation.operator === '$min' ? value < this.numbers[k]! : value > this.numbers[k]!) {
            this.numbers[k] = value;
            this.chosen[k] = i;
          }
          break;
        }
        case '$push':
        case '$addToSet':
          this.addItems(k, operation, i);
          break;
        // $setOnInsert keeps the first event's operand; $unset has nothing to fold.
      }
    }
    this.updates++;
    return true;
  }

  /** Appends event `i`'s items of list operation `k` ($push, $addToSet; none for the others). */
  private addItems(k: number, operation: OperationPlan, i: number): void {
    const list = (this.lists[k] ??= []);
    let at = this.listLengths[k]!;
    for (let item = 0; item < operation.items.length; item++) {
      list[at++] = i;
      list[at++] = item;
    }
    this.listLengths[k] = at;
  }

  /** Writes the folded update document (as writeUpdateDocument writes a folded one). */
  write(writer: BinaryWriter, events: ScannedEvents): void {
    const { groups } = this.plan;
    writer.msgpackMapHeader(groups.length);
    let k = 0;
    for (const group of groups) {
      writer.rawBytes(group.header);
      for (const operation of group.operations) {
        writer.rawBytes(operation.pathBytes);
        const { operator, slice } = operation;
        if (operator === '$inc') writer.msgpackValue(this.numbers[k]!);
        else if (operator !== '$push' && operator !== '$addToSet') writeTemplate(operation.value, writer, events, this.chosen[k]!);
        else {
          const list = this.lists[k]!;
          const pairs = this.listLengths[k]! / 2;
          // $slice: the first N (positive) or the last N (negative) of all the values pushed.
          const from = slice === undefined || slice >= 0 ? 0 : Math.max(0, pairs + slice);
          const to = slice === undefined || slice < 0 ? pairs : Math.min(pairs, slice);
          writeListOperandHead(writer, slice);
          writer.msgpackArrayHeader(to - from);
          for (let p = from; p < to; p++) writeTemplate(operation.items[list[2 * p + 1]!]!, writer, events, list[2 * p]!);
          writeListOperandTail(writer, slice);
        }
        k++;
      }
    }
  }
}

/** The numeric operand of `operation` for event `i`; NaN when it is not a number. */
function numberOf(operation: OperationPlan, events: ScannedEvents, i: number): number {
  const hole = operation.numberHole;
  if (hole === null) return operation.numberLiteral;
  if (hole === HOLE_TS) return events.ts[i]!;
  const at = events.fieldStart[i * events.fieldsPerEvent + hole]!;
  return numberBytes(events.frame[at]!) > 0 ? readNumber(events.frame, events.view, at) : NaN;
}
