// Operator by operator, the update semantics of routes (MongoDB's where they overlap), including
// type mismatches (skipped and reported, never thrown) and prototype safety.
import t from 'tap';
import { applyRoutedUpdate, applyUpdate, type OperationError } from '../src/workers/update-operators.js';
import { structurallyEqual } from '../src/shared/update-ops.js';
import { newMetaRecord } from '../src/workers/default-merge.js';

function run(fields: Record<string, unknown>, doc: Record<string, Record<string, unknown>>, isInsert = false) {
  const errors: OperationError[] = [];
  applyUpdate(fields, doc, isInsert, errors);
  return { fields, errors };
}

t.test('$set and $unset on dotted paths create and remove', async (t) => {
  t.same(run({}, { $set: { 'a.b.c': 1, top: 'x' } }).fields, { a: { b: { c: 1 } }, top: 'x' });
  t.same(run({ a: { b: 1, c: 2 } }, { $unset: { 'a.b': '', 'missing.path': '' } }).fields, { a: { c: 2 } });
  t.same(run({ a: 5 }, { $set: { 'a.b': 1 } }), { fields: { a: 5 }, errors: [{ operator: '$set', path: 'a.b', reason: 'a is not a map' }] });
});

t.test('$setOnInsert applies only to a new record', async (t) => {
  t.same(run({}, { $setOnInsert: { first: 'ann' } }, true).fields, { first: 'ann' });
  t.same(run({ first: 'ann' }, { $setOnInsert: { first: 'bob' } }, false).fields, { first: 'ann' });
});

t.test('$inc starts from 0, adds, and refuses non-numbers', async (t) => {
  t.same(run({}, { $inc: { n: 5 } }).fields, { n: 5 });
  t.same(run({ n: 5 }, { $inc: { n: -2.5 } }).fields, { n: 2.5 });
  t.same(run({ n: 'five' }, { $inc: { n: 1 } }), { fields: { n: 'five' }, errors: [{ operator: '$inc', path: 'n', reason: 'cannot $inc a string' }] });
  t.same(run({}, { $inc: { n: 'x' } }).errors, [{ operator: '$inc', path: 'n', reason: '$inc needs a number, got string' }]);
});

t.test('$min and $max set missing fields and compare numbers or strings', async (t) => {
  t.same(run({}, { $min: { lo: 3 }, $max: { hi: 3 } }).fields, { lo: 3, hi: 3 });
  t.same(run({ lo: 3, hi: 3 }, { $min: { lo: 1 }, $max: { hi: 9 } }).fields, { lo: 1, hi: 9 });
  t.same(run({ lo: 3, hi: 3 }, { $min: { lo: 7 }, $max: { hi: 1 } }).fields, { lo: 3, hi: 3 });
  t.same(run({ s: 'm' }, { $max: { s: 'z' } }).fields, { s: 'z' });
  t.same(run({ s: 'm' }, { $min: { s: 4 } }).errors, [{ operator: '$min', path: 's', reason: 'cannot compare a string with a number' }]);
});

t.test('$addToSet compares structurally; $push appends and caps', async (t) => {
  const set = run({ tags: [{ a: 1, b: 2 }] }, { $addToSet: { tags: { a: 1, b: 2 }, other: 'x' } }).fields;
  t.same(set, { tags: [{ a: 1, b: 2 }], other: ['x'] });
  t.same(run({ tags: [{ a: 1, b: 2 }] }, { $addToSet: { tags: { b: 2, a: 1 } } }).fields.tags, [{ a: 1, b: 2 }, { b: 2, a: 1 }], 'field order counts, as in MongoDB');
  t.same(run({ tags: 'x' }, { $addToSet: { tags: 1 } }).errors, [{ operator: '$addToSet', path: 'tags', reason: 'cannot $addToSet to a string' }]);
  t.same(run({ list: [1, 2] }, { $push: { list: 3 } }).fields, { list: [1, 2, 3] });
  t.same(run({ list: [1, 2, 3] }, { $push: { list: { $each: [4, 5], $slice: -3 } } }).fields, { list: [3, 4, 5] }, 'keeps the last 3');
  t.same(run({ list: [1, 2, 3] }, { $push: { list: { $each: [4], $slice: 2 } } }).fields, { list: [1, 2] }, 'keeps the first 2');
  t.same(run({ list: 7 }, { $push: { list: 1 } }).errors, [{ operator: '$push', path: 'list', reason: 'cannot $push to a number' }]);
  t.same(run({ list: [1, 2] }, { $push: { list: { $each: [3], $slice: 0 } } }).fields, { list: [] }, '$slice 0 empties');
  t.same(run({ list: [1] }, { $push: { list: { $each: [2], $slice: -5 } } }).fields, { list: [1, 2] }, 'a cap above the length keeps all');
  t.same(run({}, { $push: { list: { $each: [1, 2, 3], $slice: -2 } } }).fields, { list: [2, 3] }, 'a missing list starts empty');
  const primitives = run({ s: [1, 'a', null, NaN, { n: 1 }] }, { $addToSet: { s: { $each: [1, '1', null, NaN, 0, -0, false, { n: 1 }, 'b', 'b'] } } }).fields.s as unknown[];
  t.same(primitives, [1, 'a', null, NaN, { n: 1 }, '1', 0, false, 'b'], 'primitives by value (NaN equals NaN, -0 equals 0), repeats in $each added once');
  t.ok(structurallyEqual([1, { x: [null] }], [1, { x: [null] }]));
  t.notOk(structurallyEqual([1], [1, 2]));
  t.ok(structurallyEqual(NaN, NaN));
});

t.test('prototype paths are never written', async (t) => {
  const fields: Record<string, unknown> = {};
  const { errors } = run(fields, { $set: { '__proto__.polluted': 1, 'constructor.prototype.x': 1 }, $inc: { 'a.prototype': 1 } });
  t.equal(errors.length, 3);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  t.same(fields, {}, 'refused before any map on the way is made');
});

t.test('a routed update moves counters for its own key, fewer for a fan-out key', async (t) => {
  const own = newMetaRecord(10);
  applyRoutedUpdate(own, true, 'clue', 20, { $inc: { n: 1 }, $setOnInsert: { first: 20 } }, []);
  t.match(own, { version: 1, count: 1, lastTs: 20, lastType: 'clue', types: { clue: 1 }, fields: { n: 1, first: 20 } });
  const other = newMetaRecord(10);
  applyRoutedUpdate(other, false, 'clue', 30, { $inc: { n: 1 } }, []);
  applyRoutedUpdate(other, false, 'clue', 40, { $inc: { n: 1 }, $setOnInsert: { first: 40 } }, []);
  t.match(other, { version: 2, count: 0, lastTs: 40, lastType: '', types: {}, fields: { n: 2 } });
});
