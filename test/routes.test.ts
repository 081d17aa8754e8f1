// Routes end to end over a real engine: the treasure-hunt example (own-key updates, fan-out to keys
// in other partitions, $setOnInsert, capped $push, drop, reject of unmatched and of events missing
// required fields), idempotent re-sends of fanned-out pubs, reloads (valid and invalid) and a reload
// under load; plus validation messages of the routes file and the check-config command.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import { loadRoutes } from '../src/main/routes/routes-file.js';
import { compileRoutes, RoutesError, type RouteProblem } from '../src/main/routes/routes.js';
import { partitionOf } from '../src/shared/partition.js';
import { getKey, httpGet, httpRequest, runEngineToExit, startEngine, tempDir, TestClient, type Message } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/treasure-hunt.routes.json', import.meta.url));
const EXAMPLE_YAML = fileURLToPath(new URL('../../examples/treasure-hunt.routes.yaml', import.meta.url));
const HUNT_CLI = fileURLToPath(new URL('../src/cli/hunt.js', import.meta.url));

const body = async (port: number, key: string) => (await getKey(port, key)).body;

// JSON pubs take the decoded path; MessagePack pubs the routed byte path (routed-scan.ts).
for (const encoding of ['json', 'msgpack'] as const) {
  t.test(`${encoding}: the treasure-hunt routes maintain players, hunts, clues and zones`, async (t) => {
    const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_ROUTES: EXAMPLE, HUNT_DURABILITY: 'async' });
    t.teardown(() => engine.stop());
    const client = await TestClient.connect(engine.port);
    await client.welcome();
    const ack = (id: number, events: unknown[]) => client.request({ op: 'pub', id, events }, encoding);

    t.match(await ack(1, [
      { key: 'player:ann', type: 'join', ts: 100, data: { hunt: 'h1', name: 'Ann' } },
      { key: 'player:bob', type: 'join', ts: 110, data: { hunt: 'h1', name: 'Bob' } },
      { key: 'player:ann', type: 'debug.trace', data: { anything: true } },
    ]), { op: 'ack', id: 1 });
    const finds = [];
    for (let i = 0; i < 12; i++) {
      const player = i % 3 === 0 ? 'player:bob' : 'player:ann';
      finds.push({ key: player, type: 'clue.found', ts: 200 + i, data: { hunt: 'h1', clue: `c${i % 4}`, points: i + 1, zone: `z${i % 2}` } });
    }
    t.match(await ack(2, finds), { op: 'ack', id: 2 });
    t.match(await ack(3, [{ key: 'player:ann', type: 'finish', ts: 500, data: { hunt: 'h1' } }]), { op: 'ack', id: 3 });

    const ann = await body(engine.port, 'player:ann');
    t.match(ann, { count: 10, version: 10, lastType: 'finish', types: { join: 1, 'clue.found': 8, finish: 1 } });
    t.same(ann.fields, { name: 'Ann', hunt: 'h1', joinedAt: 100, points: 2 + 3 + 5 + 6 + 8 + 9 + 11 + 12, clues: 8, bestFind: 12, zones: ['z1', 'z0'], lastClueAt: 211, finishedAt: 500 });
    const hunt = await body(engine.port, 'hunt:h1');
    t.match(hunt, { count: 0, version: 15 }, 'fan-out updates count as changes, not as events of the key');
    t.same(hunt.fields.players, 2);
    t.same(hunt.fields.playerKeys, ['player:ann', 'player:bob']);
    t.equal(hunt.fields.finds, 12);
    t.equal(hunt.fields.finished, 1);
    t.same(hunt.fields.recentFinds.map((f: { points: number }) => f.points), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'capped at the last 10');
    t.same(hunt.fields.recentFinds[9], { player: 'player:ann', clue: 'c3', points: 12 });
    t.match((await body(engine.port, 'clue:h1:c0')).fields, { firstFinder: 'player:bob', firstFoundAt: 200, finds: 3 }, 'first finder kept by $setOnInsert');
    t.match((await body(engine.port, 'clue:h1:c1')).fields, { firstFinder: 'player:ann', firstFoundAt: 201 });
    t.match((await body(engine.port, 'zone:h1:z0')).fields, { finds: 6, points: 1 + 3 + 5 + 7 + 9 + 11 });
    const partitions = new Set(['player:ann', 'hunt:h1', 'clue:h1:c0', 'zone:h1:z0'].map((k) => partitionOf(k, 64)));
    t.ok(partitions.size >= 3, `fan-out reached ${partitions.size} different partitions`);

    t.match(await ack(4, [{ key: 'player:cy', type: 'join', data: { hunt: 'h1' } }]), { code: 'BAD_EVENT', index: 0, message: /events\[0\]\.data\.name must be a string \(route "player joins"\)/ });
    t.match(await ack(5, [{ key: 'player:cy', type: 'join', data: { hunt: 'h1', name: 'Cy' } }, { key: 'player:cy', type: 'dance' }]), { code: 'BAD_EVENT', index: 1, message: /matches no route/ });
    t.match(await ack(6, [{ key: 'player:cy', type: 'join', data: { hunt: 'x'.repeat(600), name: 'Cy' } }]), { code: 'BAD_EVENT', message: /made by route "player joins".*more than maxKeyBytes/ });
    t.equal((await getKey(engine.port, 'player:cy')).status, 404, 'rejected pubs applied nothing');
    await client.close();
  });

  t.test(`${encoding}: a re-sent pub with fan-out is applied once, fan-out included`, async (t) => {
    const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_ROUTES: EXAMPLE, HUNT_DURABILITY: 'sync' });
    t.teardown(() => engine.stop());
    const events = [{ key: 'player:dee', type: 'clue.found', data: { hunt: 'h2', clue: 'c', points: 4, zone: 'z' } }];
    for (let attempt = 0; attempt < 3; attempt++) {
      const client = await TestClient.connect(engine.port);
      await client.welcome();
      await client.request({ op: 'hello', id: 0, producer: 'dee-app' }, encoding);
      t.match(await client.request({ op: 'pub', id: 1, seq: 1, events }, encoding), attempt === 0 ? { op: 'ack' } : { op: 'ack', dup: true });
      await client.close();
    }
    t.equal((await body(engine.port, 'player:dee')).fields.points, 4);
    t.equal((await body(engine.port, 'hunt:h2')).fields.finds, 1);
    t.equal((await body(engine.port, 'zone:h2:z')).fields.points, 4);
  });
}

t.test("a pub's fan-out updates of one key are folded into one record, one log entry, exactly", async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_ROUTES: EXAMPLE, HUNT_DURABILITY: 'sync', HUNT_LOG_RETENTION_EVENTS: '1000' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  const find = (i: number, ts = 1000, hunt = 'h9') => ({ key: `player:p${i}`, type: 'clue.found', ts, data: { hunt, clue: `c${i}`, points: i, zone: 'z' } });
  t.match(await client.request({ op: 'pub', id: 1, events: [find(0)] }), { op: 'ack' });
  t.match(await client.request({ op: 'pub', id: 2, events: Array.from({ length: 20 }, (_, i) => find(i + 1, 2000)) }), { op: 'ack' });
  // Updates of different ts do not fold: a new key's record must get the first one's ts.
  t.match(await client.request({ op: 'pub', id: 3, events: [find(1, 3001, 'h10'), find(2, 3000, 'h10')] }), { op: 'ack' });
  t.match(await body(engine.port, 'hunt:h10'), { version: 2, firstTs: 3001, lastTs: 3000, fields: { finds: 2 } });

  const hunt = await body(engine.port, 'hunt:h9');
  t.match(hunt, { version: 21, lastTs: 2000 }, 'the version counts every update folded');
  t.equal(hunt.fields.finds, 21);
  t.same(hunt.fields.recentFinds.map((f: { points: number }) => f.points), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  t.match(await body(engine.port, 'zone:h9:z'), { version: 21, fields: { finds: 21, points: (20 * 21) / 2 } });

  const replay = await client.request({ op: 'replay', id: 3, key: 'hunt:h9', from: 0 });
  t.same(
    replay.events.map((e: Message) => [e.version, e.updates, e.update.$inc]),
    [[1, undefined, { finds: 1 }], [21, 20, { finds: 20 }]],
    'one log entry per record: the second folds 20 updates',
  );

  const subscriber = await TestClient.connect(engine.port);
  await subscriber.welcome();
  t.match(await subscriber.request({ op: 'sub', id: 4, keys: ['hunt:h9'], from: 1 }), { op: 'ack', recovered: true });
  t.match((await subscriber.next((m) => m.op === 'missed')).events, [{ version: 21, updates: 20, fanOut: true }], 'recovery across a folded entry');
  t.match(await subscriber.request({ op: 'sub', id: 5, keys: ['hunt:h9'], from: 7 }), { recovered: false }, 'a version inside a fold was never a state of the record');
  await subscriber.close();
  await client.close();
});

t.test('reload: a valid file switches between frames, an invalid one keeps the old routes', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'routes.json');
  const routesCounting = (field: string) => JSON.stringify({ routes: [{ type: 'tick', update: { $inc: { [field]: 1 } }, also: [{ key: 'total', update: { $inc: { [field]: 1 } } }] }] });
  fs.writeFileSync(file, routesCounting('old'));
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_ROUTES: file, HUNT_DURABILITY: 'async', HUNT_MAX_IN_FLIGHT: '1000' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await client.welcome();

  const pubs = 300;
  const replies = [];
  let reloaded = false;
  for (let i = 0; i < pubs; i++) {
    // All ten events of pub i go to key pub:i, so each pub shows which routes applied it.
    replies.push(client.request({ op: 'pub', id: i, events: Array.from({ length: 10 }, () => ({ key: `pub:${i}`, type: 'tick' })) }, 'msgpack'));
    if (i === 150) {
      fs.writeFileSync(file, routesCounting('new'));
      reloaded = (await engine.reloadRoutes('test')).outcome === 'reloaded';
    }
    if (i % 25 === 0) await new Promise((r) => setImmediate(r));
  }
  t.ok(reloaded, 'valid file reloaded while pubs were in flight');
  t.ok((await Promise.all(replies)).every((r) => r.op === 'ack'));
  const versions: string[] = [];
  for (let i = 0; i < pubs; i++) {
    const { fields } = await body(engine.port, `pub:${i}`);
    versions.push(fields.old === 10 && fields.new === undefined ? 'old' : fields.new === 10 && fields.old === undefined ? 'new' : 'mixed');
  }
  const switchAt = versions.indexOf('new');
  t.notOk(versions.includes('mixed'), 'no pub was applied partly under each routes version');
  t.ok(switchAt > 0 && versions.slice(switchAt).every((v) => v === 'new'), `one switch point, at pub ${switchAt}`);
  const total = (await body(engine.port, 'total')).fields;
  t.same(total, { old: switchAt * 10, new: (pubs - switchAt) * 10 }, 'fan-out switched at the same point');

  fs.writeFileSync(file, '{"routes": [{"type": "tick", "update": {"$explode": {}}}]}');
  t.equal((await engine.reloadRoutes('test')).outcome, 'invalid', 'an invalid file is refused');
  t.match(await client.request({ op: 'pub', id: 999, events: [{ key: 'k0', type: 'tick' }] }, 'msgpack'), { op: 'ack' });
  t.equal((await body(engine.port, 'total')).fields.new, (pubs - switchAt) * 10 + 1, 'the previous routes stayed in force');
  await client.close();
});

t.test('POST /v1/admin/reload-routes: needs a token, reloads a valid file, answers 422 with the problems of an invalid one', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'routes.yaml');
  fs.writeFileSync(file, 'routes:\n  - type: tick\n    update: { $inc: { n: 1 } }\n');
  const token = 'admin-token-0123456789';
  const auth = { authorization: `Bearer ${token}` };
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_ROUTES: file, HUNT_AUTH_TOKENS: token });
  t.teardown(() => engine.stop());
  const url = '/v1/admin/reload-routes';
  t.match(await httpRequest('POST', engine.port, url), { status: 401, body: { error: 'UNAUTHORIZED' } });
  t.match(await httpRequest('GET', engine.port, url, auth), { status: 405, body: { error: 'METHOD_NOT_ALLOWED' } });

  const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack'], auth);
  await client.welcome();
  t.match(await client.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 'tick' }] }, 'msgpack'), { op: 'ack' });
  fs.writeFileSync(file, 'routes:\n  - type: tick\n    update: { $inc: { m: 10 } }\n  - type: other\n    drop: true\n');
  t.same(await httpRequest('POST', engine.port, url, auth), { status: 200, body: { reloaded: true, file, routes: 2 } });
  t.match(await client.request({ op: 'pub', id: 2, events: [{ key: 'k', type: 'tick' }] }, 'msgpack'), { op: 'ack' });
  t.same((await httpGet(engine.port, '/v1/keys/k', auth)).body.fields, { n: 1, m: 10 }, 'the second event went by the new routes');

  fs.writeFileSync(file, 'routes:\n  - type: tick\n    update: { $explode: { n: 1 } }\n');
  const refused = await httpRequest('POST', engine.port, url, auth);
  t.same(refused, {
    status: 422,
    body: {
      error: 'INVALID_ROUTES',
      message: 'the file is invalid; the previous routes stay',
      file,
      problems: [{ path: 'routes[0].update.$explode', line: 3, message: 'unknown operator; allowed are $set, $setOnInsert, $unset, $inc, $min, $max, $addToSet, $push' }],
    },
  });
  t.match(await client.request({ op: 'pub', id: 3, events: [{ key: 'k', type: 'tick' }] }, 'msgpack'), { op: 'ack' });
  t.same((await httpGet(engine.port, '/v1/keys/k', auth)).body.fields, { n: 1, m: 20 }, 'the previous routes stayed in force');
  await client.close();
});

t.test('POST /v1/admin/reload-routes: 403 on an engine without tokens, 409 without a routes file', async (t) => {
  const open = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_ROUTES: EXAMPLE });
  t.teardown(() => open.stop());
  t.match(await httpRequest('POST', open.port, '/v1/admin/reload-routes'), { status: 403, body: { error: 'FORBIDDEN' } });
  const token = 'admin-token-0123456789';
  const plain = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_AUTH_TOKENS: token });
  t.teardown(() => plain.stop());
  t.match(await httpRequest('POST', plain.port, '/v1/admin/reload-routes', { authorization: `Bearer ${token}` }), { status: 409, body: { error: 'NO_ROUTES' } });
});

t.test('validation reports every problem with its path and exact message', async (t) => {
  const problems: RouteProblem[] = [];
  compileRoutes(
    {
      routes: [
        { type: 'clue.*', require: { points: 'number' }, update: { $inc: { points: '$data.points' } } },
        { type: 'clue.found', update: { $set: { a: '$data.missing' } } },
        { type: 'x', update: { $set: { 'a.b': 1 }, $unset: { a: '' } } },
        { type: 'y', update: { $push: { list: { $each: 'no', $slice: 1.5 } } } },
        { type: 'z', also: [{ key: '${nope}', update: { $set: { v: { $literal: '$kept' }, m: { '$bad': 1 } } } }] },
      ],
    },
    problems,
  );
  t.same(problems, [
    { path: 'routes[1].update.$set.a', message: 'refers to data.missing, which the route does not require (add it to "require")' },
    { path: 'routes[2].update.$unset.a', message: 'conflicts with $set.a.b: one operator per path' },
    { path: 'routes[3].update.$push.list.$each', message: 'must be an array of values' },
    { path: 'routes[3].update.$push.list.$slice', message: 'must be an integer (negative: keep the last N)' },
    { path: 'routes[4].also[0].key', message: '${nope} is not a template field; use ${data.<field>}, ${key} or ${type}' },
    { path: 'routes[4].also[0].update.$set.m.$bad', message: 'map keys in values cannot be __proto__, constructor, prototype or start with $' },
  ]);
  const unreachable: RouteProblem[] = [];
  compileRoutes({ routes: [{ type: 'clue.*', update: { $set: { a: 1 } } }, { type: 'clue.found', update: { $set: { a: 1 } } }] }, unreachable);
  t.same(unreachable, [{ path: 'routes[1].type', message: 'can never match: routes[0] (type "clue.*") takes every event it would' }]);
});

t.test('routes files in YAML or JSON: the YAML example is the JSON one; problems carry their lines', async (t) => {
  const dir = tempDir(t);
  t.ok(isDeepStrictEqual(YAML.parse(fs.readFileSync(EXAMPLE_YAML, 'utf8')), JSON.parse(fs.readFileSync(EXAMPLE, 'utf8'))), 'the two example files hold the same routes');
  t.equal(loadRoutes(EXAMPLE_YAML).routes.length, 4);
  const problemsOf = (name: string, text: string): RouteProblem[] => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    try {
      loadRoutes(file);
    } catch (error) {
      if (error instanceof RoutesError) return error.problems;
      throw error;
    }
    return [];
  };
  const yamlText = [
    '# comments are allowed',
    'routes:',
    '  - type: a',
    '    update:',
    '      $set: { deep.obj: "$data.q", __proto__: 1 }',
    '  - type: b',
    '    bad: 1',
  ].join('\n');
  t.same(problemsOf('bad.yaml', yamlText), [
    { path: 'routes[0].update.$set.deep.obj', line: 5, message: 'refers to data.q, which the route does not require (add it to "require")' },
    { path: 'routes[0].update.$set.__proto__', line: 5, message: 'uses __proto__, constructor or prototype, which are not allowed' },
    { path: 'routes[1].bad', line: 7, message: 'unknown field; allowed are name, type, keyPrefix, require, drop, update, also' },
  ]);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  const jsonText = '{"routes": [\n  {"type": "a",\n   "update": {"$set": {"x": "$data.q"}}},\n  {"type": "b", "bad": 1}\n]}';
  t.same(problemsOf('bad.json', jsonText), [
    { path: 'routes[0].update.$set.x', line: 3, message: 'refers to data.q, which the route does not require (add it to "require")' },
    { path: 'routes[1].bad', line: 4, message: 'unknown field; allowed are name, type, keyPrefix, require, drop, update, also' },
  ]);
  const syntax = problemsOf('syntax.yml', 'routes:\n  - type: a\n    update: {$set: [1, 2}\n');
  t.ok(syntax.length > 0 && syntax.every((p) => p.path === '(file)' && p.line === 3 && p.message.startsWith('is not valid YAML: ')), JSON.stringify(syntax));
  t.same(problemsOf('odd.yaml', 'routes:\n  - type: a\n    update:\n      $inc: { x: .inf }\n      $set: { b: !!binary aGVsbG8=, l: { $literal: [1, .nan] } }\n'), [
    { path: 'routes[0].update.$inc.x', line: 4, message: 'is not a JSON value; use null, true/false, a finite number, a string, an array or a map' },
    { path: 'routes[0].update.$set.b', line: 5, message: 'is not a JSON value; use null, true/false, a finite number, a string, an array or a map' },
    { path: 'routes[0].update.$set.l.$literal', line: 5, message: 'is not a JSON value; use null, true/false, a finite number, a string, an array or a map' },
  ]);
  t.same(problemsOf('repeated.json', '{"routes": [{"type": "a", "update": {"$set": {"x": 1},\n "$set": {"y": 2}}}]}'), [
    { path: '(file)', line: 2, message: 'repeats a key of its map; JSON.parse would keep only the last' },
  ]);
  t.match(problemsOf('repeated.yaml', 'routes:\n  - type: a\n    update:\n      $set: { x: 1 }\n      $set: { y: 2 }\n'), [{ path: '(file)', line: 5, message: /^is not valid YAML: Map keys must be unique/ }]);
  t.match(problemsOf('tag.yaml', 'routes:\n  - type: !custom a\n'), [{ path: '(file)', line: 2, message: /^is not valid YAML: Unresolved tag: !custom/ }], 'an unknown tag is refused');
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'routes: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
  const expanded = problemsOf('bomb.yaml', bomb);
  t.match(expanded, [{ path: '(file)', message: /^is not valid YAML: .*alias/i }], 'alias expansion is bounded');
});

t.test('check-config and start-up refuse an invalid file; a valid one is summarised', async (t) => {
  const dir = tempDir(t);
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"routes": [\n  {"type": "a",\n   "update": {"$set": {"x": 1},}}\n]}');
  const syntax = spawnSync(process.execPath, [HUNT_CLI, 'check-config', bad], { encoding: 'utf8' });
  t.equal(syntax.status, 1);
  t.match(syntax.stderr, /\(file\): is not valid JSON: .*\(line 3, column \d+\)/);
  const good = spawnSync(process.execPath, [HUNT_CLI, 'check-config', EXAMPLE], { encoding: 'utf8' });
  t.equal(good.status, 0, good.stderr);
  t.match(good.stdout, /valid, 4 route\(s\); unmatched events: reject/);
  t.match(good.stdout, /"clue found": type "clue.found" keys "player:…" requires hunt:string, clue:string, points:number, zone:string/);
  const yaml = spawnSync(process.execPath, [HUNT_CLI, 'check-config', EXAMPLE_YAML], { encoding: 'utf8' });
  t.equal(yaml.status, 0, yaml.stderr);
  t.match(yaml.stdout, /valid, 4 route\(s\); unmatched events: reject/);
  const { status, stdout } = runEngineToExit({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_ROUTES: bad });
  t.equal(status, 2, 'the engine never starts with an invalid routes file');
  t.match(stdout, /HUNT_ROUTES=.*bad\.json.* is invalid: \(file\): is not valid JSON/);
});
