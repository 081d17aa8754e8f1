// Operational promises of the docs, each with a test that would notice it broken: the per-connection
// subscription and follow limits, the event log's age retention, routes re-read on SIGHUP, /readyz
// while stopping, a second signal, the worker restart storm, and idle producers forgotten at
// start-up and by the periodic expiry.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { startEngineProcess, waitForOutput } from '../native-bench/engine-process.js';
import { decodeProducerState, encodeProducerState, StoreSet } from '../src/shared/store.js';
import { partitionOf } from '../src/shared/partition.js';
import { getKey, startEngine, tempDir, TestClient, until } from './helpers.js';

t.test('HUNT_MAX_SUBSCRIPTIONS bounds the keys and prefixes, and the follows, of one connection', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_MAX_SUBSCRIPTIONS: '3', HUNT_LOG_RETENTION_EVENTS: '100' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  t.match(await client.request({ op: 'sub', id: 1, keys: ['a', 'b', 'c', 'd'] }), { op: 'error', id: 1, code: 'TOO_LARGE', message: /HUNT_MAX_SUBSCRIPTIONS/ });
  t.match(await client.request({ op: 'sub', id: 2, keys: ['a', 'b'], prefixes: ['p:'] }), { op: 'ack', id: 2 }, 'three are fine');
  t.match(await client.request({ op: 'sub', id: 3, keys: ['c'] }), { op: 'error', id: 3, code: 'TOO_LARGE' }, 'a fourth is not');
  t.match(await client.request({ op: 'unsub', id: 4, keys: ['a'] }), { op: 'ack', id: 4 });
  t.match(await client.request({ op: 'sub', id: 5, keys: ['c'] }), { op: 'ack', id: 5 }, 'room again after an unsub');
  for (let id = 10; id < 13; id++) t.match(await client.request({ op: 'replay', id, partition: id - 10, follow: true }), { op: 'ack', id });
  t.match(await client.request({ op: 'replay', id: 13, partition: 3, follow: true }), { op: 'error', id: 13, code: 'TOO_LARGE', message: /more follows/ }, 'a fourth follow is refused');
  await client.close();
});

t.test('HUNT_LOG_RETENTION_S drops segments whose newest event is older than that', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_LOG_RETENTION_EVENTS: '1000000', HUNT_LOG_RETENTION_S: '60' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  const key = 'aged';
  const partition = partitionOf(key, 64);
  const hourAgo = Date.now() - 3_600_000;
  t.match(await client.request({ op: 'pub', id: 1, events: Array.from({ length: 5 }, () => ({ key, type: 'old', ts: hourAgo })) }), { op: 'ack' });
  t.match(await client.request({ op: 'replay', id: 2, partition, from: 0 }), { op: 'events', events: [{ offset: 1 }, {}, {}, {}, {}] }, 'the old events are there until the next commit trims');
  t.match(await client.request({ op: 'pub', id: 3, events: [{ key, type: 'new' }] }), { op: 'ack' });
  t.match(await client.request({ op: 'replay', id: 4, partition, from: 0 }), { op: 'error', code: 'OUT_OF_RANGE', message: /earliest held is 6/ }, 'the hour-old segment was dropped');
  t.match(await client.request({ op: 'replay', id: 5, partition, from: 6 }), { op: 'events', events: [{ offset: 6, type: 'new' }] });
  await client.close();
});

t.test('SIGHUP re-reads HUNT_ROUTES: a valid file takes over, an invalid one leaves the old routes', async (t) => {
  const dir = tempDir(t);
  const routesFile = path.join(dir, 'routes.json');
  const routes = (type: string) => JSON.stringify({ unmatched: 'reject', routes: [{ type, update: { $inc: { n: 1 } } }] });
  fs.writeFileSync(routesFile, routes('first'));
  const engine = await startEngineProcess({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_ROUTES: routesFile });
  t.teardown(() => engine.stop('SIGKILL'));
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  t.match(await client.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 'second' }] }), { code: 'BAD_EVENT' }, 'before: only "first" is routed');

  fs.writeFileSync(routesFile, routes('second'));
  engine.child.kill('SIGHUP');
  await waitForOutput(engine.child, /"msg":"routes reloaded"/, 'the reload');
  t.match(await client.request({ op: 'pub', id: 2, events: [{ key: 'k', type: 'second' }] }), { op: 'ack' }, 'after: the new routes are in force');
  t.match((await getKey(engine.port, 'k')).body, { fields: { n: 1 } });

  fs.writeFileSync(routesFile, '{ not json');
  engine.child.kill('SIGHUP');
  await until('the refusal to be logged', () => /routes reload refused: the file is invalid/.test(engine.output()));
  t.match(await client.request({ op: 'pub', id: 3, events: [{ key: 'k', type: 'second' }] }), { op: 'ack' }, 'an invalid file leaves the routes as they were');
  await client.close();
  t.equal(await engine.stop(), 0);
});

t.test('/readyz answers 503 once the engine is stopping', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t) });
  // One kept-alive connection: the listening socket closes when the stop starts.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const readyz = () =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: engine.port, path: '/readyz', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject);
    });
  t.equal(await readyz(), 200, 'ready while running');
  const stopped = engine.stop();
  // The stop reaches each acceptor thread as a message, racing this request's bytes: a request
  // sent at the same instant may still be answered 200, the ones after it 503.
  let status = 200;
  for (let attempt = 0; attempt < 50 && status === 200; attempt++) {
    status = await readyz();
    if (status === 200) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.equal(status, 503, 'not ready once stopping, on the connection it keeps open while it drains');
  await stopped;
});

t.test('a second signal during an orderly stop exits at once with 1', async (t) => {
  const engine = await startEngineProcess({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '1', HUNT_MAX_IN_FLIGHT: '4096' });
  t.teardown(() => engine.stop('SIGKILL'));
  const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await client.welcome();
  // Pubs in flight make the orderly stop wait; both signals arrive while it does.
  for (let id = 0; id < 500; id++) client.send({ op: 'pub', id, events: Array.from({ length: 100 }, (_, e) => ({ key: `k${e}`, type: 't' })) }, 'msgpack');
  await client.next((m) => m.op === 'ack');
  // Two kinds of signal: two SIGTERMs sent at once may reach the process as one.
  engine.child.kill('SIGTERM');
  const exited = engine.stop('SIGINT');
  t.equal(await exited, 1, 'exit code 1');
  t.match(engine.output(), /second signal: exiting at once/);
});

t.test('partition workers that keep dying stop the engine: 1011 to every client, the fatal hook called', async (t) => {
  let fatal: Error | null = null;
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_WORKERS: '1' }, { onFatal: (error) => (fatal = error) });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  for (let kill = 1; kill <= 6; kill++) {
    // An acked pub shows the (restarted) loop running on its thread: a thread killed before its
    // loop started would be replaced by Piscina without counting as a loop's death.
    t.match(await client.request({ op: 'pub', id: kill, events: [{ key: 'k', type: 't' }] }), { op: 'ack' });
    t.ok(await engine.pool.holdCritical(10_000));
    await engine.pool.threads[0]!.terminate();
    engine.pool.releaseCritical();
    await until('the supervisor to notice', () => engine.pool.restartCount === kill);
  }
  await until('the fatal hook', () => fatal !== null);
  t.match(fatal, { message: /partition workers died 6 times within 60 s/ }, 'the sixth death in a minute is fatal');
  t.same(await client.closed, { code: 1011, reason: 'the engine stopped after a fault; re-send unacknowledged pubs once it is back' });
});

t.test('idle producers are forgotten at start-up and by the periodic expiry', async (t) => {
  const dataDir = tempDir(t);
  const env = { HUNT_DATA_DIR: dataDir, HUNT_PRODUCER_TTL_S: '60' };
  const hello = async (engine: { port: number }, name: string) => {
    const client = await TestClient.connect(engine.port);
    await client.welcome();
    const ack = await client.request({ op: 'hello', id: 0, producer: name });
    return { client, seq: ack.seq as number };
  };

  // Start-up: a producer whose last write is older than the TTL is not loaded, here or in LMDB.
  let engine = await startEngine(env);
  let p = await hello(engine, 'old');
  t.match(await p.client.request({ op: 'pub', id: 1, seq: 7, events: [{ key: 'k', type: 't' }] }), { op: 'ack' });
  await p.client.close();
  await engine.stop();
  const stores = StoreSet.open(dataDir, engine.layout);
  for (const { root, producers } of stores.open) {
    root.transactionSync(() => {
      for (const { key, value } of producers.getRange()) producers.putSync(key, encodeProducerState({ ...decodeProducerState(value), seenMs: Date.now() - 120_000 }));
    });
  }
  await stores.close();
  engine = await startEngine(env);
  t.equal((await engine.inspect()).producers, 0, 'not loaded');
  p = await hello(engine, 'old');
  t.equal(p.seq, 0, 'its hello starts over at seq 0');
  await p.client.close();
  await engine.stop();

  // Periodically: a producer idle past the TTL (a clock an hour ahead) is forgotten while running,
  // but never while it is connected.
  engine = await startEngine(env, { producerExpiry: { intervalMs: 50, aheadMs: 3_600_000 } });
  t.teardown(() => engine.stop());
  p = await hello(engine, 'idle');
  t.match(await p.client.request({ op: 'pub', id: 1, seq: 3, events: [{ key: 'k', type: 't' }] }), { op: 'ack' });
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await engine.inspect()).producers, 1, 'still known while connected, after several expiry rounds');
  await p.client.close();
  await until('the periodic expiry', async () => (await engine.inspect()).producers === 0);
  p = await hello(engine, 'idle');
  t.equal(p.seq, 0, 'forgotten: its hello starts over');
  await p.client.close();
});
