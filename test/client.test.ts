// The client library (src/client) against a real engine: batching with the window from the
// welcome, get, key and prefix subscriptions, and, against an engine process SIGKILLed and
// restarted twice under load, exactly-once effects for an idempotent producer (the client
// re-sends what was not acknowledged) versus DISCONNECTED failures without one.
import http from 'node:http';
import t, { type Test } from 'tap';
import { HuntClient, HuntError, type Update } from '../src/client/index.js';
import { startEngineProcess, type EngineProcess } from '../native-bench/engine-process.js';
import { getKey, httpGet, startEngine, tempDir } from './helpers.js';

const until = async (what: string, condition: () => boolean, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A counter of the engine's Prometheus text. */
async function metric(port: number, name: string): Promise<number> {
  const text: string = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

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
    const pubs = await metric(engine.port, 'hunt_pubs_settled_total');
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
    await new Promise((r) => setTimeout(r, 200));
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

/** Kills the engine twice while `outcomes` grows, restarting it on the same port and data. */
async function killTwice(t: Test, env: Record<string, string>, first: EngineProcess, acked: () => number): Promise<EngineProcess> {
  let engine = first;
  for (let kill = 0; kill < 2; kill++) {
    const before = acked();
    await until('acks to flow', () => acked() > before + 50, 60_000);
    await engine.stop('SIGKILL');
    engine = await startEngineProcess({ ...env, HUNT_PORT: String(engine.port) });
  }
  t.teardown(() => engine.stop('SIGKILL'));
  return engine;
}

t.test('idempotent producer: SIGKILL and restart twice under load; every event applied exactly once', async (t) => {
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '2' };
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
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' };
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
