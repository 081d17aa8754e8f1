// The client library (src/client) against a real engine: batching with the window from the
// welcome, get, key and prefix subscriptions, and, against an engine process SIGKILLed and
// restarted twice under load, exactly-once effects for an idempotent producer (the client
// re-sends what was not acknowledged) versus DISCONNECTED failures without one.
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { HuntClient, HuntError, type ReplayedEvent, type Update, type WebSocketConstructor } from '../src/client/index.js';
import { decodeServerMessage } from '../src/client/codec.js';
import { partitionOf } from '../src/shared/partition.js';
import { startEngineProcess, type EngineProcess } from '../native-bench/engine-process.js';
import { freePort, getKey, httpGet, metricSum, scrapeMetrics, startEngine, tempDir, TestClient, until } from './helpers.js';
import type { Engine } from '../src/main/control/engine.js';

for (const encoding of ['msgpack', 'json'] as const) {
  t.test(`${encoding}: single-event publishes are batched into pubs; get; subscriptions`, async (t) => {
    const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
    t.teardown(() => engine.stop());
    const client = await HuntClient.connect({ url: `ws://127.0.0.1:${engine.port}/v1/stream`, encoding, lingerMs: 5, maxBatchEvents: 500 });
    t.teardown(() => client.close());
    t.equal(client.limits?.maxInFlight, 256, 'the window comes from the welcome');

    const seen: Update[] = [];
    const prefixSeen: Update[] = [];
    const unsubscribe = await client.subscribe('player:7', (u) => seen.push(u));
    await client.subscribe('zone:', (u) => prefixSeen.push(u), { prefix: true });

    const results = await Promise.all(Array.from({ length: 5000 }, (_, i) => client.publish({ key: `player:${i % 10}`, type: 'step', data: { i } })));
    t.ok(results.every((r) => r.dup === false), 'every publish acked');
    const pubs = metricSum((await scrapeMetrics(engine.port)).text, 'hunt_pubs_settled_total');
    t.ok(pubs >= 10 && pubs <= 100, `5,000 events went as ${pubs} pubs`);
    t.match(await client.get('player:7'), { count: 500, fields: { i: 4997 } });
    t.equal(await client.get('nobody'), null);

    await client.publish([{ key: 'zone:north', type: 'visit' }, { key: 'zone:south', type: 'visit' }, { key: 'other', type: 'visit' }]);
    await until('updates', () => seen.at(-1)?.meta.count === 500 && prefixSeen.length === 2);
    t.ok(seen.every((u, i) => i === 0 || u.meta.version > seen[i - 1]!.meta.version), 'updates in version order');
    t.same(prefixSeen.map((u) => u.key).sort(), ['zone:north', 'zone:south'], 'prefix subscription: only its keys');
    await unsubscribe();
    const before = seen.length;
    await client.publish({ key: 'player:7', type: 'step' });
    // Updates reach a connection in commit order: the marker's, on a key still subscribed by
    // prefix, comes after any update of the publish before it.
    await client.publish({ key: 'zone:marker', type: 'visit' });
    await until('the marker\'s update', () => prefixSeen.some((u) => u.key === 'zone:marker'));
    t.equal(seen.length, before, 'nothing after unsubscribe');

    const tooBig = await client.publish(Array.from({ length: 1200 }, (_, i) => ({ key: `bulk:${i}`, type: 't' })));
    t.same(tooBig, { dup: false }, 'more events than a pub holds are split');
    await t.rejects(client.publish({ key: '', type: 't' }), { name: 'HuntError', code: 'BAD_EVENT' }, 'engine errors reject the publish');
  });
}

/** Publishes `count` single events over `keys` keys as fast as the client takes them; collects outcomes. */
function publishAll(client: HuntClient, count: number, keys: number) {
  const outcomes = { acked: 0, dup: 0, failed: new Map<string, number>() };
  const done = Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.publish({ key: `k${i % keys}`, type: 'tick' }).then(
        (r) => {
          outcomes.acked++;
          if (r.dup) outcomes.dup++;
        },
        (error: HuntError) => outcomes.failed.set(error.code, (outcomes.failed.get(error.code) ?? 0) + 1),
      ),
    ),
  );
  return { outcomes, done };
}

/** Kills the engine twice while `outcomes` grows, restarting it with the same `env` (a fixed port: see freePort). */
async function killTwice(t: Test, env: Record<string, string>, first: EngineProcess, acked: () => number): Promise<EngineProcess> {
  let engine = first;
  for (let kill = 0; kill < 2; kill++) {
    const before = acked();
    await until('acks to flow', () => acked() > before + 50, 60_000);
    await engine.stop('SIGKILL');
    engine = await startEngineProcess(env);
  }
  t.teardown(() => engine.stop('SIGKILL'));
  return engine;
}

t.test('idempotent producer: SIGKILL and restart twice under load; every event applied exactly once', async (t) => {
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(await freePort()), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '2' };
  const first = await startEngineProcess(env);
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${first.port}/v1/stream`, producer: 'client-test', lingerMs: 1, maxBatchEvents: 20, backoff: { initialMs: 20, maxMs: 200 } });
  t.teardown(() => client.close());
  const { outcomes, done } = publishAll(client, 60_000, 23);
  const engine = await killTwice(t, env, first, () => outcomes.acked);
  await done;
  t.same([...outcomes.failed], [], 'no publish failed');
  t.equal(outcomes.acked, 60_000);
  const counts = await Promise.all(Array.from({ length: 23 }, async (_, k) => (await getKey(engine.port, `k${k}`)).body.count as number));
  t.same(counts, Array.from({ length: 23 }, (_, k) => Math.floor(60_000 / 23) + (k < 60_000 % 23 ? 1 : 0)), 'each key counted exactly once per event');
  t.comment(`${outcomes.dup} publishes were answered as duplicates of re-sent pubs`);
  t.equal((await httpGet(engine.port, '/healthz')).status, 200);
});

t.test('without a producer name, pubs in flight when the connection drops fail with DISCONNECTED; later ones go through', async (t) => {
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(await freePort()), HUNT_DURABILITY: 'async' };
  const first = await startEngineProcess(env);
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${first.port}/v1/stream`, lingerMs: 1, maxBatchEvents: 20, backoff: { initialMs: 20, maxMs: 200 } });
  t.teardown(() => client.close());
  const { outcomes, done } = publishAll(client, 60_000, 23);
  const engine = await killTwice(t, env, first, () => outcomes.acked);
  await done;
  t.ok((outcomes.failed.get('DISCONNECTED') ?? 0) > 0, `${outcomes.failed.get('DISCONNECTED')} publishes failed with DISCONNECTED`);
  t.equal(outcomes.acked + (outcomes.failed.get('DISCONNECTED') ?? 0), 60_000, 'every publish either acked or failed, none hangs');
  t.ok((await client.get('k0')) !== null, 'the client works again after the restarts');
  t.equal((await httpGet(engine.port, '/healthz')).status, 200);
});

t.test('a crashed acceptor thread is replaced under load; an idempotent producer\'s events apply exactly once', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(await freePort()), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '2' });
  t.teardown(() => engine.stop());
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${engine.port}/v1/stream`, producer: 'acceptor-crash', lingerMs: 1, maxBatchEvents: 20, backoff: { initialMs: 20, maxMs: 200 } });
  t.teardown(() => client.close());
  const total = 50_000;
  const { outcomes, done } = publishAll(client, total, 23);
  // Crash points by progress: the client reconnects at once, to either acceptor, so the stream may
  // be fast; the second crash follows the client to its new connection without waiting for the
  // first replacement.
  let threshold = 5_000;
  for (let crash = 1; crash <= 2; crash++) {
    await until('acks to flow', () => outcomes.acked > threshold, 60_000);
    engine.faultAcceptor(await acceptorOfOnlyConnection(engine));
    t.ok(outcomes.acked < total, `crash ${crash} under load, after ${outcomes.acked} acks`);
    threshold = outcomes.acked + 2_000;
  }
  await until('both acceptors to be replaced', () => engine.acceptorRestartCount === 2, 60_000);
  await done;
  t.same([...outcomes.failed], [], 'no publish failed');
  t.equal(outcomes.acked, total);
  t.equal(metricSum((await scrapeMetrics(engine.port)).text, 'hunt_acceptor_restarts_total'), 2, 'the metrics, served by the third acceptor, count both crashes');
  const counts = await Promise.all(Array.from({ length: 23 }, async (_, k) => (await getKey(engine.port, `k${k}`)).body.count as number));
  t.same(counts, Array.from({ length: 23 }, (_, k) => Math.floor(total / 23) + (k < total % 23 ? 1 : 0)), 'each key counted exactly once per event');
  t.comment(`${outcomes.dup} publishes were answered as duplicates of re-sent pubs`);
  t.equal((await httpGet(engine.port, '/healthz')).status, 200);
});

t.test('a replacement acceptor waits until the workers applied what the crashed one took, so re-sends are dups', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(await freePort()), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '1', HUNT_RING_BYTES: String(64 << 20), HUNT_BATCH_MAX_EVENTS: '200' });
  t.teardown(() => engine.stop());
  const pubs = Array.from({ length: 100 }, (_, i) => ({ op: 'pub', id: i + 1, seq: i + 1, events: Array.from({ length: 5000 }, (_, e) => ({ key: `r${e % 50}`, type: 't' })) }));
  const first = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await first.welcome();
  await first.request({ op: 'hello', id: 0, producer: 'deep' }, 'msgpack');
  for (const pub of pubs) first.send(pub, 'msgpack');
  // Every pub taken (in the rings or applied), most not yet applied: then the acceptor crashes.
  await until('all pubs taken', async () => metricSum((await scrapeMetrics(engine.port)).text, 'hunt_events_received_total') === 500_000);
  engine.faultAcceptor(await acceptorOfOnlyConnection(engine));
  await first.closed;
  await until('the acceptor to be replaced', () => engine.acceptorRestartCount === 1, 60_000);
  const again = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await again.welcome();
  t.match(await again.request({ op: 'hello', id: 0, producer: 'deep' }, 'msgpack'), { op: 'ack', seq: 100 }, 'the hello sees every pub the crashed acceptor took');
  const answers = await Promise.all(pubs.map((pub) => again.request(pub, 'msgpack')));
  t.ok(answers.every((a) => a.op === 'ack' && a.dup === true), 'every re-send is a dup');
  const counts = await Promise.all(Array.from({ length: 50 }, async (_, k) => (await getKey(engine.port, `r${k}`)).body.count as number));
  t.ok(counts.every((c) => c === 10_000), 'each event applied exactly once');
  await again.close();
});

/** The acceptor that holds the engine's one connection (waiting for the client to be connected). */
async function acceptorOfOnlyConnection(engine: Engine): Promise<number> {
  let holder = -1;
  await until('one connection', async () => {
    const acceptors = await engine.inspectAcceptors();
    holder = acceptors.find((a) => a.connections === 1)?.acceptor ?? -1;
    return acceptors.reduce((n, a) => n + a.connections, 0) === 1;
  });
  return holder;
}

/** A `ws` WebSocket that records what the client sends and receives (decoded), through the client's public `WebSocket` option. */
function recordingWebSocket(sent: Record<string, any>[], received: Record<string, any>[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols);
      this.on('message', (data: Buffer, isBinary: boolean) => received.push(decodeServerMessage(isBinary ? new Uint8Array(data) : data.toString())!));
    }

    override send(data: string | Uint8Array): void {
      sent.push(decodeServerMessage(data)!);
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

t.test('OVERLOADED answers (a full backlog) are retried until every publish is acked', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '1', HUNT_RING_BYTES: String(1 << 20), HUNT_MAX_BACKLOG_BYTES: String(1 << 20), HUNT_MAX_PAYLOAD_BYTES: String(128 << 10) });
  t.teardown(() => engine.stop());
  const received: Record<string, any>[] = [];
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${engine.port}/v1/stream`, producer: 'overloaded', maxBatchEvents: 50, backoff: { initialMs: 5, maxMs: 50 }, WebSocket: recordingWebSocket([], received) });
  t.teardown(() => client.close());
  const pad = 'x'.repeat(8000);
  const results = await Promise.all(Array.from({ length: 3000 }, (_, i) => client.publish({ key: `o${i % 7}`, type: 't', data: { pad } })));
  t.equal(results.length, 3000, 'every publish acked');
  const overloaded = received.filter((m) => m.op === 'error' && m.code === 'OVERLOADED').length;
  t.ok(overloaded > 0, `${overloaded} pubs were refused OVERLOADED on the way, and sent again`);
  let total = 0;
  for (let k = 0; k < 7; k++) total += (await getKey(engine.port, `o${k}`)).body.count as number;
  t.equal(total, 3000, 'each event applied exactly once');
});

t.test('SHUTTING_DOWN answers are retried on the next connection; subscriptions are renewed with from', async (t) => {
  const port = String(await freePort());
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_PORT: port, HUNT_DURABILITY: 'sync', HUNT_WORKERS: '1', HUNT_LOG_RETENTION_EVENTS: '10000' };
  let engine = await startEngineProcess(env);
  t.teardown(() => engine.stop('SIGKILL'));
  const url = `ws://127.0.0.1:${port}/v1/stream`;
  const sent: Record<string, any>[] = [];
  const received: Record<string, any>[] = [];
  const client = await HuntClient.connect({ url, producer: 'restarts', lingerMs: 1, maxBatchEvents: 20, backoff: { initialMs: 20, maxMs: 100 }, WebSocket: recordingWebSocket(sent, received) });
  t.teardown(() => client.close());
  const versions: number[] = [];
  await client.subscribe('watched', ({ meta }) => versions.push(meta.version));
  await client.publish([{ key: 'watched', type: 't' }, { key: 'watched', type: 't' }]);
  await until('the updates', () => versions.at(-1) === 2);

  let stop = false;
  let published = 0;
  const stream = (async () => {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; (!stop || i < 10) && i < 20_000; i++) {
      pending.push(client.publish({ key: `s${i % 11}`, type: 't' }).then(() => published++));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    return Promise.all(pending);
  })();
  await until('acks to flow', () => published > 200);
  const exited = engine.stop('SIGTERM');
  await until('a SHUTTING_DOWN answer', () => received.some((m) => m.code === 'SHUTTING_DOWN'));
  t.equal(await exited, 0);
  engine = await startEngineProcess(env);
  const other = await HuntClient.connect({ url, reconnect: false });
  await other.publish({ key: 'watched', type: 't' });
  other.close();
  stop = true;
  const events = (await stream).length;
  t.pass(`all ${events} publishes acked, those refused SHUTTING_DOWN sent again after the restart`);
  let total = 0;
  for (let k = 0; k < 11; k++) total += (await getKey(engine.port, `s${k}`)).body?.count ?? 0;
  t.equal(total, events, 'each event applied exactly once');
  await until('the renewed subscription to deliver version 3', () => versions.at(-1) === 3);
  t.ok(sent.some((m) => m.op === 'sub' && m.from === 2), 'the subscription was renewed with from: the last version seen');
  t.ok(received.some((m) => m.op === 'ack' && m.recovered === true), 'and the engine recovered from its log');
});

t.test('replay: pages from an offset to the log\'s end; a follow goes on across a SIGKILL and restart, every event once, and ends with close', async (t) => {
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(await freePort()), HUNT_DURABILITY: 'sync', HUNT_LOG_RETENTION_EVENTS: '100000' };
  let engine = await startEngineProcess(env);
  t.teardown(() => engine.stop('SIGKILL'));
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${engine.port}/v1/stream`, producer: 'replayer', backoff: { initialMs: 20, maxMs: 200 } });
  t.teardown(() => client.close());
  await Promise.all(Array.from({ length: 250 }, (_, i) => client.publish({ key: 'log:k', type: 't', data: { i } })));
  await client.publish({ key: 'log:other', type: 't' });

  const paged: ReplayedEvent[] = [];
  for await (const event of client.replay({ key: 'log:k', limit: 100 })) paged.push(event);
  t.same(paged.map((e) => (e.data as { i: number }).i), Array.from({ length: 250 }, (_, i) => i), 'pages from offset 0 to the end, only the key\'s events');
  const fromPartition: ReplayedEvent[] = [];
  for await (const event of client.replay({ partition: partitionOf('log:k', client.limits!.partitions), from: paged[100]!.offset, limit: 7 })) fromPartition.push(event);
  t.same(fromPartition.filter((e) => e.key === 'log:k').map((e) => (e.data as { i: number }).i), Array.from({ length: 150 }, (_, i) => i + 100), 'a partition\'s log from an offset');

  const follow = client.replay({ key: 'log:k', from: paged.at(-1)!.offset + 1, follow: true });
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const event of follow) seen.push((event.data as { i: number }).i);
  })();
  await client.publish(Array.from({ length: 50 }, (_, i) => ({ key: 'log:k', type: 't', data: { i: 250 + i } })));
  await until('the followed events', () => seen.length === 50);
  await engine.stop('SIGKILL');
  engine = await startEngineProcess(env);
  await client.publish(Array.from({ length: 50 }, (_, i) => ({ key: 'log:k', type: 't', data: { i: 300 + i } })));
  await until('the events after the restart', () => seen.length === 100, 30_000);
  await follow.close();
  await consumer;
  t.same(seen, Array.from({ length: 100 }, (_, i) => 250 + i), 'every event once, in order, across the restart');
  await t.rejects(async () => {
    for await (const _ of client.replay({ key: 'log:k', from: 0, limit: 5000 })) break;
  }, { name: 'HuntError', code: 'BAD_FRAME' }, 'an engine error rejects the iteration');
});

t.test('a producer fenced by another connection: its unsent publishes fail with FENCED, later ones with CLOSED', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t) });
  t.teardown(() => engine.stop());
  const url = `ws://127.0.0.1:${engine.port}/v1/stream`;
  const first = await HuntClient.connect({ url, producer: 'shared', lingerMs: 60_000 });
  // The first may be fenced before the second's hello is answered (the acceptors hand the producer over).
  const lingering = t.rejects(first.publish({ key: 'f', type: 't' }), { name: 'HuntError', code: 'FENCED' }, 'the publish waiting in the first client fails with FENCED');
  const second = await HuntClient.connect({ url, producer: 'shared' });
  await lingering;
  await t.rejects(first.publish({ key: 'f', type: 't' }), { code: 'CLOSED' });
  t.same(await second.publish({ key: 'f', type: 't' }), { dup: false }, 'the new connection speaks for the producer');
  second.close();
});
