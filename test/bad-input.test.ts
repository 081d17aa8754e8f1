// Bad input gets a clear error frame, never a partial apply, never a crash; the connection stays
// usable (policy: errors are answered, the socket is kept, except for frames uWS itself refuses).
import { Packr } from 'msgpackr';
import t from 'tap';
import { httpGet, getKey, startEngine, tempDir, TestClient, wire } from './helpers.js';

t.test('malformed frames and invalid events', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_MAX_KEY_BYTES: '64', HUNT_MAX_DATA_DEPTH: '4' });
  t.teardown(() => engine.stop());
  const json = await TestClient.connect(engine.port);
  const bin = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await json.welcome();
  await bin.welcome();
  const nextError = (client: TestClient) => client.next((m) => m.op === 'error');

  json.ws.send('{"op":"pub",');
  t.match(await nextError(json), { code: 'BAD_FRAME', id: null, message: /not valid JSON/ });
  // uWS validates text frames itself and drops a connection that sends invalid UTF-8.
  const liar = await TestClient.connect(engine.port);
  await liar.welcome();
  liar.ws.send(Buffer.from([0xff, 0xfe, 0x80]), { binary: false });
  t.equal((await liar.closed).code, 1006, 'invalid UTF-8 text frame: that socket is closed');
  bin.ws.send(Buffer.from([0x93, 0x01]), { binary: true });
  t.match(await nextError(bin), { code: 'BAD_FRAME', __binary: true }, 'truncated MessagePack');
  bin.ws.send(Buffer.from([0xc1]), { binary: true });
  t.match(await nextError(bin), { code: 'BAD_FRAME' }, '0xC1');
  json.send([1, 2, 3]);
  t.match(await nextError(json), { code: 'BAD_FRAME', message: /must be a map/ });
  json.send({ op: 'explode', id: 4 });
  t.match(await nextError(json), { code: 'BAD_FRAME', id: 4, message: /unknown op "explode"/ });
  json.send({ op: 'pub', events: [{ key: 'k', type: 't' }] });
  t.match(await nextError(json), { code: 'BAD_FRAME', message: /"id" must be an unsigned integer/ });
  json.send({ op: 'pub', id: -1, events: [{ key: 'k', type: 't' }] });
  t.match(await nextError(json), { code: 'BAD_FRAME' });
  t.match(await json.request({ op: 'pub', id: 5, events: [] }), { code: 'BAD_FRAME', message: /non-empty array/ });
  t.match(await json.request({ op: 'pub', id: 6, events: 'x' }), { code: 'BAD_FRAME' });
  t.match(await json.request({ op: 'pub', id: 7, events: [{ key: 'k', type: 't' }], extra: 1 }), { code: 'BAD_FRAME', message: /unknown field "extra"/ });
  t.match(await json.request({ op: 'sub', id: 8 }), { code: 'BAD_FRAME', id: 8, message: /give "keys" and\/or "prefixes"/ });
  t.match(await json.request({ op: 'sub', id: 8, keys: [''] }), { code: 'BAD_FRAME', id: 8, message: /keys\[0\] must be a non-empty string/ });
  t.match(await json.request({ op: 'unsub', id: 8, prefixes: 'p' }), { code: 'BAD_FRAME', id: 8, message: /"prefixes" must be an array/ });
  t.match(await json.request({ op: 'hello', id: 8, producer: 'p' }), { code: 'BAD_FRAME', id: 8, message: /first message/ }, 'hello late');
  t.match(await json.request({ op: 'pub', id: 8, seq: 1, events: [{ key: 'k', type: 't' }] }), { code: 'BAD_FRAME', id: 8, message: /only allowed after a hello/ });

  const badEvents: [unknown, RegExp][] = [
    ['not a map', /events\[1\] must be a map/],
    [{ type: 't' }, /events\[1\]\.key must be a non-empty string/],
    [{ key: 42, type: 't' }, /key must be a non-empty string/],
    [{ key: '', type: 't' }, /key must be a non-empty string/],
    [{ key: 'a\u0000b', type: 't' }, /must not contain NUL/],
    [{ key: 'x'.repeat(65), type: 't' }, /65 bytes of UTF-8, more than maxKeyBytes 64/],
    [{ key: 'é'.repeat(33), type: 't' }, /66 bytes/],
    [{ key: 'k' }, /type must be a non-empty string/],
    [{ key: 'k', type: '__proto__' }, /type must be/],
    [{ key: 'k', type: 't', ts: 'yesterday' }, /ts must be a finite number/],
    [{ key: 'k', type: 't', data: [1] }, /data must be a map/],
    [{ key: 'k', type: 't', data: { a: { b: { c: { d: { e: 1 } } } } } }, /nests deeper than maxDataDepth 4/],
    [{ key: 'k', type: 't', data: { constructor: { prototype: 1 } } }, /forbidden field name "constructor"/],
    [{ key: 'k', type: 't', data: { ok: { prototype: 1 } } }, /forbidden field name "prototype"/],
    [{ key: 'k', type: 't', weird: true }, /unknown field "weird"/],
  ];
  for (const [i, [event, message]] of badEvents.entries()) {
    const reply = await json.request({ op: 'pub', id: 100 + i, events: [{ key: 'good', type: 't' }, event] });
    t.match(reply, { op: 'error', id: 100 + i, code: 'BAD_EVENT', index: 1, message }, String(message));
  }
  // JSON.parse makes "__proto__" an own property; it must be refused, not merged.
  json.ws.send('{"op":"pub","id":200,"events":[{"key":"good","type":"t","data":{"__proto__":{"polluted":1}}}]}');
  t.match(await json.reply(200), { code: 'BAD_EVENT', message: /forbidden field name "__proto__"/ });

  // MessagePack-only hazards: 64-bit integers beyond ±(2^53−1), extension types (Set, Date, RegExp).
  const big = Buffer.from(wire.pack({ op: 'pub', id: 300, events: [{ key: 'good', type: 't', data: { n: 0 } }] }));
  const at = big.lastIndexOf(0x00); // the value 0 of n
  const huge = Buffer.concat([big.subarray(0, at), Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), big.subarray(at + 1)]);
  bin.ws.send(huge, { binary: true });
  t.match(await bin.reply(300), { code: 'BAD_EVENT', message: /events\[0\]\.data\.n is an integer beyond ±\(2\^53−1\)/ });
  const extensions = new Packr({ useRecords: false, moreTypes: true });
  for (const [i, value] of [new Set([1]), new Date(0), /re/, new Error('e')].entries()) {
    const reply = bin.reply(310 + i);
    bin.ws.send(extensions.pack({ op: 'pub', id: 310 + i, events: [{ key: 'good', type: 't', data: { v: value } }] }), { binary: true });
    t.match(await reply, { code: 'BAD_EVENT' }, `extension ${Object.prototype.toString.call(value)}`);
  }

  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  t.equal((await getKey(engine.port, 'good')).status, 404, 'nothing of any rejected pub was applied');
  t.same(await json.request({ op: 'pub', id: 999, events: [{ key: 'good', type: 't' }] }), { op: 'ack', id: 999, __binary: false }, 'connection still works');
  t.equal((await getKey(engine.port, 'good')).body.count, 1);
  t.match(await json.request({ op: 'get', id: 1000, key: 'x'.repeat(65) }), { code: 'BAD_FRAME', message: /get: key is 65 bytes/ });
  t.match(await json.request({ op: 'get', id: 1001 }), { code: 'BAD_FRAME', message: /get: key must be a non-empty string/ });
  t.match(await httpGet(engine.port, `/v1/keys/${'x'.repeat(65)}`), { status: 400, body: { error: 'BAD_KEY' } });
  t.match(await httpGet(engine.port, '/nope'), { status: 404 });
});

t.test('size limits: TOO_LARGE answers, oversized frames close only their own socket', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_MAX_PAYLOAD_BYTES: '4096', HUNT_MAX_EVENTS_PER_PUB: '10' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  const bystander = await TestClient.connect(engine.port);
  await client.welcome();
  t.match(await bystander.welcome(), { maxPayloadBytes: 4096, maxEventsPerPub: 10 });
  const many = Array.from({ length: 11 }, () => ({ key: 'k', type: 't' }));
  t.match(await client.request({ op: 'pub', id: 1, events: many }), { code: 'TOO_LARGE', message: /11 events, more than maxEventsPerPub 10/ });
  t.match(await client.request({ op: 'pub', id: 2, events: [{ key: 'k', type: 't', data: { s: 'x'.repeat(5000) } }] }), { code: 'TOO_LARGE' });
  client.send({ op: 'pub', id: 3, events: [{ key: 'k', type: 't', data: { s: 'x'.repeat(20_000) } }] });
  const closed = await client.closed;
  t.equal(closed.code, 1006, 'a frame beyond twice the limit is refused by uWS: socket closed');
  t.same(await bystander.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 't' }] }), { op: 'ack', id: 1, __binary: false });
  t.equal((await getKey(engine.port, 'k')).body.count, 1);
  await bystander.close();
});

t.test('past the in-flight window a pub gets OVERLOADED and is not applied', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_MAX_IN_FLIGHT: '2', HUNT_DURABILITY: 'sync' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  t.match(await client.welcome(), { maxInFlight: 2 });
  const replies = [];
  for (let id = 0; id < 40; id++) replies.push(client.request({ op: 'pub', id, events: [{ key: 'window', type: 't' }] }));
  const settled = await Promise.all(replies);
  const acked = settled.filter((r) => r.op === 'ack').length;
  const overloaded = settled.filter((r) => r.code === 'OVERLOADED').length;
  t.equal(acked + overloaded, 40);
  t.ok(overloaded > 0 && acked >= 2, `${acked} acked, ${overloaded} OVERLOADED`);
  t.equal((await getKey(engine.port, 'window')).body.count, acked, 'only acked pubs applied');
  await client.close();
});

t.test('a client that keeps sending into a full window is closed; others are not', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_MAX_IN_FLIGHT: '2', HUNT_DURABILITY: 'sync' });
  t.teardown(() => engine.stop());
  const flooder = await TestClient.connect(engine.port);
  const bystander = await TestClient.connect(engine.port);
  await flooder.welcome();
  await bystander.welcome();
  for (let id = 0; id < 3000; id++) flooder.send({ op: 'pub', id, events: [{ key: 'flood', type: 't' }] });
  t.same(await flooder.closed, { code: 1008, reason: 'flooding: kept sending past OVERLOADED' });
  t.ok(flooder.received.filter((m) => m.code === 'OVERLOADED').length >= 1024, 'it was told OVERLOADED first, many times');
  t.same(await bystander.request({ op: 'pub', id: 1, events: [{ key: 'calm', type: 't' }] }), { op: 'ack', id: 1, __binary: false });
  await bystander.close();
});

t.test('bearer tokens guard the stream and the key reads, not /healthz', async (t) => {
  const token = 'a-very-secret-token-1234';
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_AUTH_TOKENS: `other-token-abcdefgh,${token}` });
  t.teardown(() => engine.stop());
  await t.rejects(TestClient.connect(engine.port), /401/);
  await t.rejects(TestClient.connect(engine.port, [], { authorization: 'Bearer wrong-token-1234567' }), /401/);
  const viaHeader = await TestClient.connect(engine.port, [], { authorization: `Bearer ${token}` });
  t.match(await viaHeader.welcome(), { op: 'welcome' });
  await viaHeader.close();
  const ws = await import('ws');
  const viaQuery = await new Promise<boolean>((resolve) => {
    const socket = new ws.default(`ws://127.0.0.1:${engine.port}/v1/stream?token=${token}`);
    socket.once('open', () => resolve(true));
    socket.once('error', () => resolve(false));
    socket.once('open', () => socket.close());
  });
  t.ok(viaQuery, 'token query parameter (for browsers)');
  t.equal((await httpGet(engine.port, '/v1/keys/k')).status, 401);
  t.equal((await httpGet(engine.port, '/v1/keys/k', { authorization: `Bearer ${token}` })).status, 404);
  t.equal((await httpGet(engine.port, '/healthz')).status, 200);
  t.equal((await httpGet(engine.port, '/readyz')).status, 401);
});

t.test('decoder hazards: records, cycles, 10,000-deep nesting, huge arrays', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
  t.teardown(() => engine.stop());
  const bin = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  const json = await TestClient.connect(engine.port);
  await bin.welcome();
  await json.welcome();
  const event = { key: 'hazard', type: 't' };

  // msgpackr's records extension (a structure definition, then a record that uses it).
  const records = new Packr({ useRecords: true });
  bin.ws.send(records.pack({ op: 'pub', id: 1, events: [{ ...event, data: { a: { x: 1, y: 2 }, b: { x: 3, y: 4 } } }] }), { binary: true });
  t.match(await bin.next((m) => m.op === 'error'), { code: 'BAD_FRAME', message: /records extension/ }, 'records extension refused');

  // A cycle, as msgpackr's structured clone writes it.
  const cyclic: Record<string, unknown> = { n: 1 };
  cyclic.self = cyclic;
  bin.ws.send(new Packr({ useRecords: false, structuredClone: true }).pack({ op: 'pub', id: 2, events: [{ ...event, data: cyclic }] }), { binary: true });
  t.match(await bin.next((m) => m.op === 'error'), { code: 'BAD_FRAME' }, 'cycle refused');

  // 10,000 levels of nesting, in MessagePack (0x91 = array of one) and in JSON.
  const deepPack = Buffer.concat([
    Buffer.from(wire.pack({ op: 'pub', id: 3, events: [{ ...event, data: { deep: null } }] })).subarray(0, -1),
    Buffer.alloc(10_000, 0x91),
    Buffer.from([0xc0]),
  ]);
  bin.ws.send(deepPack, { binary: true });
  t.match(await bin.next((m) => m.op === 'error' && (m.id === 3 || m.id === null)), { code: /BAD_FRAME|BAD_EVENT/ }, 'deep MessagePack');
  json.ws.send(`{"op":"pub","id":4,"events":[{"key":"hazard","type":"t","data":{"deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}}]}`);
  t.match(await json.reply(4), { code: 'BAD_EVENT', message: /maxDataDepth/ }, 'deep JSON');

  // Big arrays inside the payload limit are data like any other; beyond it, TOO_LARGE.
  const big = Array.from({ length: 100_000 }, (_, i) => i & 0xff);
  t.equal((await bin.request({ op: 'pub', id: 5, events: [{ ...event, data: { big } }] }, 'msgpack')).op, 'ack', '100,000-element array');
  const huge = Array.from({ length: 1_100_000 }, () => 1);
  t.match(await bin.request({ op: 'pub', id: 6, events: [{ ...event, data: { huge } }] }, 'msgpack'), { code: 'TOO_LARGE' });
  t.match(await json.request({ op: 'pub', id: 7, events: Array.from({ length: 20_000 }, () => event) }), { code: 'TOO_LARGE' }, 'too many events');

  t.equal((await getKey(engine.port, 'hazard')).body.count, 1, 'only the valid pub applied');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  await bin.close();
  await json.close();
});

t.test('HTTP: bad percent-encoding, oversized bodies, unknown methods', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t) });
  t.teardown(() => engine.stop());
  t.match(await httpGet(engine.port, '/v1/keys/%E0%A4%A'), { status: 400, body: { error: 'BAD_KEY' } }, 'truncated escape');
  t.match(await httpGet(engine.port, '/v1/keys/%FF%FE'), { status: 400, body: { error: 'BAD_KEY' } }, 'not UTF-8');
  t.match(await httpGet(engine.port, '/v1/keys/a%00b'), { status: 400, body: { error: 'BAD_KEY', message: /NUL/ } });
  const { request } = await import('node:http');
  const posted = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: engine.port, path: '/v1/keys/k', method: 'POST', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', (error) => (error.message.includes('EPIPE') || error.message.includes('ECONNRESET') ? resolve(0) : reject(error)));
    req.end(Buffer.alloc(32 * 2 ** 20, 0x61));
  });
  t.ok(posted === 404 || posted === 0, `a 32 MiB POST is answered 404 or cut off (${posted}), not buffered`);
  t.same(await httpGet(engine.port, '/healthz'), { status: 200, body: { status: 'ok' } }, 'still serving');
});
