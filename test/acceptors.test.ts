// Several acceptor threads (HUNT_ACCEPTORS=2) in front of several workers (HUNT_WORKERS=3): one
// port for all, pubs through either acceptor applied exactly once, producers fenced and handed
// over across acceptors, subscriptions and routes reloads reaching every acceptor, metrics of the
// whole engine from any acceptor, a crashed acceptor replaced while the other keeps serving.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { connectToAcceptor, getKey, httpGet, httpRequest, keyPath, metricSum, scrapeMetrics, startEngine, tempDir, TestClient, TWO_ACCEPTORS, until } from './helpers.js';


async function hello(client: TestClient, producer: string): Promise<number> {
  const ack = await client.request({ op: 'hello', id: 0, producer });
  if (ack.op !== 'ack') throw new Error(`hello refused: ${JSON.stringify(ack)}`);
  return ack.seq as number;
}

t.test('one port for all acceptors: pubs through each are applied once; metrics and stats cover the engine', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const clients = [await connectToAcceptor(engine, 0, ['hunt.v1.msgpack']), await connectToAcceptor(engine, 1, ['hunt.v1.msgpack'])];
  t.same((await engine.inspectAcceptors()).map((a) => a.connections), [1, 1], 'a connection on each acceptor, through one port');
  const keys = 40;
  const pubs = 60;
  const replies = [];
  for (let i = 0; i < pubs; i++) {
    for (const [c, client] of clients.entries()) {
      const events = Array.from({ length: 20 }, (_, e) => ({ key: `k${(i + e) % keys}`, type: 'tick', data: { from: c } }));
      replies.push(client.request({ op: 'pub', id: i, events }, 'msgpack'));
    }
  }
  t.ok((await Promise.all(replies)).every((r) => r.op === 'ack'), 'every pub acked');
  let total = 0;
  for (let k = 0; k < keys; k++) total += (await getKey(engine.port, `k${k}`)).body.count;
  t.equal(total, 2 * pubs * 20, 'each event applied exactly once');

  const { text } = await scrapeMetrics(engine.port);
  t.equal(metricSum(text, 'hunt_events_received_total'), 2 * pubs * 20, '/metrics counts the events of both acceptors');
  t.equal(metricSum(text, 'hunt_connections'), 2, '/metrics counts the connections of both');
  t.equal(text.split('\n').filter((line) => line.startsWith('hunt_process_cpu_user_seconds_total ')).length, 1, "the process's own metrics appear once");
  t.equal(text.split('\n').filter((line) => line.startsWith('hunt_commit_batch_events_count{worker="0"}')).length, 1, "a worker's histogram appears once");
  const stats = (await httpGet(engine.port, '/v1/stats')).body;
  t.match(stats, { eventsReceived: 2 * pubs * 20, eventsAcked: 2 * pubs * 20, connections: 2, pubsInFlight: 0 }, '/v1/stats covers both');
  t.equal(stats.ackLatencyMs.pubs, 2 * pubs, 'the latency window holds the pubs of both');
  const { partitions } = (await httpGet(engine.port, '/v1/partitions')).body as { partitions: { pendingEvents: number }[] };
  t.ok(partitions.every((p) => p.pendingEvents === 0), 'no partition lags once every pub is acked, whichever acceptor took it');
  await Promise.all(clients.map((client) => client.close()));
});

t.test("/v1/partitions on any acceptor counts what every acceptor's rings hold for a worker", async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const client = await connectToAcceptor(engine, 1, ['hunt.v1.msgpack']);
  // Held before their next commit, the workers leave the pub's record unreleased in acceptor 1's ring.
  t.ok(await engine.pool.holdCritical(10_000), 'the workers are held');
  const acked = client.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 't' }] }, 'msgpack');
  const queued = async () => ((await httpGet(engine.port, '/v1/partitions')).body.partitions as { workerRingBytes: number }[]).some((p) => p.workerRingBytes > 0);
  await until('the record to be in a ring', queued);
  // Each GET on a new connection, which the kernel deals to either acceptor.
  const answers = await Promise.all(Array.from({ length: 16 }, queued));
  t.ok(answers.every(Boolean), `every answer shows the queued bytes (${answers.filter(Boolean).length} of 16)`);
  engine.pool.releaseCritical();
  t.match(await acked, { op: 'ack' });
  await client.close();
});

t.test('a producer that says hello on another acceptor fences the first; its marks follow it', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_BATCH_MAX_EVENTS: '100', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const first = await connectToAcceptor(engine, 0, ['hunt.v1.msgpack']);
  t.equal(await hello(first, 'twin'), 0);
  // Pubs in flight at acceptor 0 while the producer moves: the handover waits until they are done.
  const pubs = 40;
  const inFlight = [];
  for (let seq = 1; seq <= pubs; seq++) {
    inFlight.push(first.request({ op: 'pub', id: seq, seq, events: Array.from({ length: 50 }, (_, e) => ({ key: `k${e % 7}`, type: 't' })) }, 'msgpack'));
  }
  const second = await connectToAcceptor(engine, 1, ['hunt.v1.msgpack']);
  t.equal(await hello(second, 'twin'), pubs, "the hello on acceptor 1 answers with the highest seq taken on acceptor 0");
  t.same(await first.closed, { code: 4001, reason: 'producer fenced: the same producer name connected again' });
  await Promise.allSettled(inFlight);
  // The re-sends of everything: all duplicates, acked only because their originals are done.
  const resent = [];
  for (let seq = 1; seq <= pubs; seq++) {
    resent.push(second.request({ op: 'pub', id: seq, seq, events: Array.from({ length: 50 }, (_, e) => ({ key: `k${e % 7}`, type: 't' })) }, 'msgpack'));
  }
  t.ok((await Promise.all(resent)).every((r) => r.op === 'ack' && r.dup === true), 'every re-send on acceptor 1 is a duplicate');
  t.match(await second.request({ op: 'pub', id: 99, seq: pubs + 1, events: [{ key: 'k0', type: 't' }] }, 'msgpack'), { op: 'ack', dup: undefined });
  let total = 0;
  for (let k = 0; k < 7; k++) total += (await getKey(engine.port, `k${k}`)).body.count;
  t.equal(total, pubs * 50 + 1, 'each event applied exactly once');

  // And back: acceptor 0 claims it again from acceptor 1.
  const third = await connectToAcceptor(engine, 0, ['hunt.v1.msgpack']);
  t.equal(await hello(third, 'twin'), pubs + 1);
  t.same(await second.closed, { code: 4001, reason: 'producer fenced: the same producer name connected again' });
  t.same((await engine.inspectAcceptors()).map((a) => a.producers), [1, 0], 'one acceptor holds the producer');
  await third.close();
});

t.test('frames sent before a claimed hello is answered are handled after it, in order', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const holder = await connectToAcceptor(engine, 0);
  await hello(holder, 'eager');
  t.match(await holder.request({ op: 'pub', id: 1, seq: 1, events: [{ key: 'e', type: 't' }] }), { op: 'ack' });
  const mover = await connectToAcceptor(engine, 1);
  // Pipelined without waiting for the hello's ack: the hello needs the producer from acceptor 0.
  mover.send({ op: 'hello', id: 0, producer: 'eager' });
  for (let seq = 1; seq <= 5; seq++) mover.send({ op: 'pub', id: seq, seq, events: [{ key: 'e', type: 't' }] });
  t.match(await mover.reply(0), { op: 'ack', seq: 1 });
  const answers = [];
  for (let seq = 1; seq <= 5; seq++) answers.push(await mover.reply(seq));
  t.match(answers[0], { op: 'ack', dup: true }, 'seq 1 was taken on acceptor 0');
  t.ok(answers.slice(1).every((a) => a.op === 'ack' && a.dup === undefined), 'seqs 2..5 applied');
  t.equal((await getKey(engine.port, 'e')).body.count, 5);
  await mover.close();
});

t.test('a subscriber on one acceptor sees pubs through the other; an acceptor without subscribers gets no notices', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const subscriber = await connectToAcceptor(engine, 0);
  const publisher = await connectToAcceptor(engine, 1);
  t.match(await subscriber.request({ op: 'sub', id: 1, keys: ['watched'], prefixes: ['zone:'] }), { op: 'ack' });
  for (let i = 1; i <= 5; i++) {
    t.match(await publisher.request({ op: 'pub', id: i, events: [{ key: 'watched', type: 't' }, { key: `zone:${i}`, type: 't' }, { key: 'other', type: 't' }] }), { op: 'ack' });
  }
  await until('five updates of each', () => subscriber.received.filter((m) => m.op === 'update').length === 10);
  t.same(
    subscriber.received.filter((m) => m.op === 'update' && m.key === 'watched').map((m) => m.meta.version),
    [1, 2, 3, 4, 5],
    'every change of the key, in order',
  );
  const [withSubscriber, without] = await engine.inspectAcceptors();
  t.ok(withSubscriber!.channels.reduce((n, c) => n + c.notices, 0) >= 10, 'the acceptor with the subscriber got the notices');
  t.equal(without!.channels.reduce((n, c) => n + c.notices, 0), 0, 'the other got none');
  await subscriber.close();
  await publisher.close();
});

t.test('a routes reload (POST to one acceptor) reaches every acceptor between two of its frames', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'routes.json');
  const routesCounting = (field: string) => JSON.stringify({ routes: [{ type: 'tick', update: { $inc: { [field]: 1 } } }] });
  fs.writeFileSync(file, routesCounting('old'));
  const token = 'acceptors-test-token-0123';
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_ROUTES: file, HUNT_DURABILITY: 'async', HUNT_AUTH_TOKENS: token, ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const auth = { authorization: `Bearer ${token}` };
  const clients = [await connectToAcceptor(engine, 0, ['hunt.v1.msgpack'], auth), await connectToAcceptor(engine, 1, ['hunt.v1.msgpack'], auth)];
  const pubs = 200;
  const replies = [];
  let reloaded: { status: number; body: unknown } | null = null;
  for (let i = 0; i < pubs; i++) {
    for (const [c, client] of clients.entries()) {
      replies.push(client.request({ op: 'pub', id: i, events: Array.from({ length: 10 }, () => ({ key: `a${c}:pub:${i}`, type: 'tick' })) }, 'msgpack'));
    }
    if (i === 100) {
      fs.writeFileSync(file, routesCounting('new'));
      // Pubs up to here are still in flight while the reload goes through.
      reloaded = await httpRequest('POST', engine.port, '/v1/admin/reload-routes', auth);
    }
    if (i % 20 === 0) await new Promise((r) => setImmediate(r));
  }
  t.match(reloaded, { status: 200, body: { reloaded: true, routes: 1 } });
  t.ok((await Promise.all(replies)).every((r) => r.op === 'ack'));
  for (const c of [0, 1]) {
    const versions: string[] = [];
    for (let i = 0; i < pubs; i++) {
      const { fields } = (await httpGet(engine.port, keyPath(`a${c}:pub:${i}`), auth)).body;
      versions.push(fields.old === 10 && fields.new === undefined ? 'old' : fields.new === 10 && fields.old === undefined ? 'new' : 'mixed');
    }
    const switchAt = versions.indexOf('new');
    t.notOk(versions.includes('mixed'), `acceptor ${c}: no pub applied partly under each routes version`);
    t.ok(switchAt > 0 && versions.slice(switchAt).every((v) => v === 'new'), `acceptor ${c}: one switch point, at pub ${switchAt}`);
  }
  await Promise.all(clients.map((client) => client.close()));
});

t.test('a crashed acceptor is replaced; the other keeps serving; its producers move with their marks', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const survivor = await connectToAcceptor(engine, 0);
  const victim = await connectToAcceptor(engine, 1);
  t.equal(await hello(victim, 'mover'), 0);
  const sent = [];
  for (let seq = 1; seq <= 30; seq++) sent.push(victim.request({ op: 'pub', id: seq, seq, events: [{ key: 'moved', type: 't' }] }).catch(() => null));
  await victim.reply(10).catch(() => null);
  engine.faultAcceptor(1);
  t.equal((await victim.closed).code, 1006, "the crashed acceptor's clients see their connections end");
  t.match(await survivor.request({ op: 'pub', id: 1, events: [{ key: 'calm', type: 't' }] }), { op: 'ack' }, 'the other acceptor kept serving');
  // The producer comes back on whichever acceptor; its hello waits until the crashed one's rings are drained.
  const back = await TestClient.connect(engine.port);
  await back.welcome();
  const seq = await hello(back, 'mover');
  t.ok(seq >= 10 && seq <= 30, `the hello answers with the committed mark (${seq})`);
  for (let s = 1; s <= 30; s++) t.match(await back.request({ op: 'pub', id: s, seq: s, events: [{ key: 'moved', type: 't' }] }), { op: 'ack' });
  t.equal((await getKey(engine.port, 'moved')).body.count, 30, 'each of its events applied exactly once');
  await until('the acceptor to be replaced', () => engine.acceptorRestartCount === 1);
  t.equal((await engine.inspectAcceptors()).length, 2, 'two acceptors again');
  const { text } = await scrapeMetrics(engine.port);
  t.equal(metricSum(text, 'hunt_acceptor_restarts_total'), 1);
  await Promise.allSettled(sent);
  await survivor.close();
  await back.close();
});

t.test('a second engine on the port of a running one fails to start, whatever its acceptors', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  await t.rejects(startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(engine.port), ...TWO_ACCEPTORS }), { message: `cannot listen on 127.0.0.1:${engine.port} (in use)` });
});
