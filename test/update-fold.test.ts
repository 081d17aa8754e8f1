// Folding a pub's fan-out updates of one key (main/routes/update-fold.ts) must be exact: applying the
// folded update leaves a record exactly as applying each event's update in turn would. Checked
// here over random events, from an empty record (insert) and from an existing one, through the
// real encode (writeUpdateDocument) → decode → apply path the engine uses.
import t from 'tap';
import { compileRoutes, resolveValues, writeUpdateDocument, type CompiledUpdate, type EventContext, type RouteProblem } from '../src/main/routes/routes.js';
import { FoldedUpdate } from '../src/main/routes/update-fold.js';
import { BinaryWriter } from '../src/shared/binary-writer.js';
import { msgpack } from '../src/shared/msgpack.js';
import type { UpdateDoc } from '../src/shared/update-ops.js';
import { applyUpdate, type OperationError } from '../src/workers/update-operators.js';

function compileAlso(update: unknown, require: Record<string, string>): CompiledUpdate {
  const problems: RouteProblem[] = [];
  const config = compileRoutes({ routes: [{ type: 't', require, also: [{ key: 'agg', update }] }] }, problems);
  if (problems.length > 0) throw new Error(JSON.stringify(problems));
  return config.routes[0]!.also[0]!.update;
}

const EVERY_OPERATOR = {
  $set: { last: '$data.s', 'nested.last': '$data.n' },
  $setOnInsert: { first: '$data.s', createdAt: '$ts' },
  $inc: { count: 1, total: '$data.n' },
  $min: { lo: '$data.n' },
  $max: { hi: '$data.s' },
  $addToSet: { tags: '$data.tag', objs: '$data.obj', several: { $each: ['$data.tag', 'fixed'] } },
  $push: { recent: { $each: ['$data.n', { s: '$data.s' }], $slice: -5 }, firstFew: { $each: ['$data.tag'], $slice: 3 }, all: '$data.tag' },
  $unset: { gone: '' },
};
const REQUIRE = { n: 'number', s: 'string', tag: 'string', obj: 'map' };

function randomEvent(random: () => number, i: number): EventContext {
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  return {
    key: `player:${i}`,
    type: 't',
    ts: 1000 + i,
    // obj sometimes looks like a modifier: it must stay a value to add.
    data: { n: Math.floor(random() * 200) - 100, s: pick(['a', 'b', 'c', 'zz', '']), tag: pick(['x', 'y', 'z']), obj: pick([{ a: 1 }, { a: 1, b: [2] }, { $each: [1] }]) },
  };
}

function encodeDecode(update: CompiledUpdate, values: unknown[], folded: boolean): UpdateDoc {
  const writer = new BinaryWriter(256);
  writeUpdateDocument(update, values, folded, writer);
  return msgpack.unpack(Buffer.from(writer.bytes())) as UpdateDoc;
}

function applyOneByOne(update: CompiledUpdate, events: EventContext[], fields: Record<string, unknown>, isInsert: boolean): OperationError[] {
  const errors: OperationError[] = [];
  events.forEach((event, i) => applyUpdate(fields, encodeDecode(update, resolveValues(update, event, []), false), isInsert && i === 0, errors));
  return errors;
}

function applyFolded(update: CompiledUpdate, events: EventContext[], fields: Record<string, unknown>, isInsert: boolean): { errors: OperationError[]; fold: FoldedUpdate } {
  const fold = new FoldedUpdate(update, events[0]!);
  for (const event of events.slice(1)) if (!fold.fold(event)) throw new Error('expected every event to fold');
  const errors: OperationError[] = [];
  applyUpdate(fields, encodeDecode(update, fold.finished(), true), isInsert, errors);
  return { errors, fold };
}

t.test('a folded update equals the updates applied one by one, for every operator', async (t) => {
  const update = compileAlso(EVERY_OPERATOR, REQUIRE);
  t.ok(update.foldable);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 200; round++) {
    const events = Array.from({ length: 1 + Math.floor(random() * 60) }, (_, i) => randomEvent(random, i));
    const existing = () => ({ count: 5, total: -3, lo: 0, hi: 'b', tags: ['y'], recent: [9, 8, 7, 6, 5, 4], firstFew: ['w'], gone: true, first: 'kept' });
    for (const [start, isInsert] of [[() => ({}), true], [existing, false]] as const) {
      const oneByOne = start() as Record<string, unknown>;
      const folded = start() as Record<string, unknown>;
      const expectedErrors = applyOneByOne(update, events, oneByOne, isInsert);
      const { errors, fold } = applyFolded(update, events, folded, isInsert);
      t.equal(fold.updates, events.length);
      if (JSON.stringify(folded) !== JSON.stringify(oneByOne)) {
        t.same(folded, oneByOne, `round ${round}, ${isInsert ? 'insert' : 'existing record'}`);
        return;
      }
      t.same([errors, expectedErrors], [[], []], 'the record types fit: no operation errors either way');
    }
  }
  t.pass('200 random pubs folded exactly');
});

t.test('values that would not fold exactly start a new record instead', async (t) => {
  const inc = compileAlso({ $inc: { total: '$data.n' } }, { n: 'number' });
  const event = (n: number): EventContext => ({ key: 'k', type: 't', ts: 1, data: { n } });
  const fold = new FoldedUpdate(inc, event(1));
  t.ok(fold.fold(event(2)));
  t.notOk(fold.fold(event(0.1)), 'a fractional increment: float sums depend on the order of additions');
  t.notOk(fold.fold(event(Number.MAX_SAFE_INTEGER)), 'a sum beyond the safe integers');
  t.same(fold.values, [3], 'a refused fold changes nothing');
  t.equal(fold.updates, 2);

  const max = compileAlso({ $max: { best: '$data.n' } }, { n: 'number' });
  t.notOk(new FoldedUpdate(max, event(1)).fold(event(NaN)), 'NaN compares with nothing');
  t.notOk(compileAlso({ $max: { best: '$data.m.x' } }, { m: 'map' }).foldable, '$max of a value of unknown kind: never folded');
  t.ok(compileAlso({ $min: { first: '$key' } }, {}).foldable);
});
