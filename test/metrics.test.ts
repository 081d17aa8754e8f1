// GET /metrics: Prometheus text with the engine's counters and gauges, moving with the traffic.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { getKey, scrapeMetrics as scrape, startEngine, tempDir, TestClient } from './helpers.js';

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

t.test('counters and gauges follow the traffic', async (t) => {
  const token = 'metrics-token-0123456789';
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_AUTH_TOKENS: token });
  t.teardown(() => engine.stop());
  const auth = { authorization: `Bearer ${token}` };
  t.equal((await scrape(engine.port)).status, 401, 'guarded like the other endpoints');
  const client = await TestClient.connect(engine.port, [], auth);
  await client.welcome();
  for (let i = 0; i < 3; i++) t.match(await client.request({ op: 'pub', id: i, events: [{ key: 'a', type: 't' }, { key: 'b', type: 't' }] }), { op: 'ack' });
  t.match(await client.request({ op: 'pub', id: 9, events: [{ key: '', type: 't' }] }), { code: 'BAD_EVENT' });
  t.match(await client.request({ op: 'sub', id: 10, keys: ['a'] }), { op: 'ack' });

  const { status, type, text } = await scrape(engine.port, auth);
  t.equal(status, 200);
  t.match(type, /text\/plain/);
  t.equal(value(text, 'hunt_events_received_total'), 6);
  t.equal(value(text, 'hunt_pubs_settled_total{result="acked"}'), 3);
  t.equal(value(text, 'hunt_errors_total{code="BAD_EVENT"}'), 1);
  t.equal(value(text, 'hunt_connections'), 1);
  t.equal(value(text, 'hunt_subscribers'), 1);
  t.equal(value(text, 'hunt_log_follows'), 0);
  t.equal(value(text, 'hunt_events_acked_total'), 6);
  t.equal(value(text, 'hunt_pubs_in_flight'), 0);
  t.equal(value(text, 'hunt_ack_latency_seconds_count'), 3, 'the BAD_EVENT pub was never taken');
  t.equal(value(text, 'hunt_ack_latency_seconds_bucket{le="+Inf"}'), 3);
  t.equal(value(text, 'hunt_ring_bytes{worker="0"}'), 0);
  t.ok(value(text, 'hunt_lmdb_file_bytes')! > 0);
  t.match(text, /hunt_process_cpu_user_seconds_total/, 'process metrics included');
  t.match(text, /hunt_nodejs_eventloop_lag_p99_seconds/);
  // Kept by the workers in shared memory: a batch per pub and worker (pubs were sent one by one).
  const perWorker = (series: string) => value(text, `${series}{worker="0"}`)! + value(text, `${series}{worker="1"}`)!;
  t.equal(perWorker('hunt_commit_batch_events_sum'), 6, 'every event in a committed batch');
  t.equal(value(text, 'hunt_commit_batch_events_count{worker="0"}'), 3);
  t.equal(value(text, 'hunt_commit_batch_events_bucket{worker="0",le="10"}'), 3);
  t.equal(value(text, 'hunt_commit_seconds_count{worker="0"}'), 3);
  t.ok(value(text, 'hunt_commit_seconds_sum{worker="0"}')! > 0, 'commit and fsync take time');
  t.equal(value(text, 'hunt_worker_lag_records{worker="0"}'), 0);
  t.match(text, /hunt_partition_lag_events\{partition="0"\} 0/);
  await client.close();
});

t.test('route matches are counted per route, across a reload; HUNT_METRICS=off serves no metrics', async (t) => {
  const dir = tempDir(t);
  const routesFile = path.join(dir, 'routes.json');
  const routes = (name: string) => JSON.stringify({ routes: [{ name, type: 'clue', update: { $inc: { n: 1 } } }, { name: 'quiet', type: 'noise', drop: true }] });
  fs.writeFileSync(routesFile, routes('clues'));
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_DURABILITY: 'async', HUNT_ROUTES: routesFile });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  const pub = (id: number, types: string[]) => client.request({ op: 'pub', id, events: types.map((type) => ({ key: 'k', type })) });
  t.match(await pub(1, ['clue', 'clue', 'noise', 'other']), { op: 'ack' });
  fs.writeFileSync(routesFile, routes('clues v2'));
  t.equal((await engine.reloadRoutes('test')).outcome, 'reloaded');
  t.match(await pub(2, ['clue']), { op: 'ack' });
  const { text } = await scrape(engine.port);
  t.equal(value(text, 'hunt_route_matches_total{route="clues"}'), 2);
  t.equal(value(text, 'hunt_route_matches_total{route="clues v2"}'), 1);
  t.equal(value(text, 'hunt_route_matches_total{route="quiet"}'), 1);
  t.equal(value(text, 'hunt_route_matches_total{route="(none)"}'), 1);
  await client.close();

  const off = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data-off'), HUNT_METRICS: 'off' });
  t.teardown(() => off.stop());
  const scraped = await scrape(off.port);
  t.equal(scraped.status, 404);
  t.match(JSON.parse(scraped.text), { error: 'NOT_FOUND', message: /HUNT_METRICS=off/ });
});

t.test('route operations that do not fit the record are counted, by operator', async (t) => {
  const dir = tempDir(t);
  const routesFile = path.join(dir, 'routes.json');
  fs.writeFileSync(
    routesFile,
    JSON.stringify({
      routes: [
        { type: 'label', require: { label: 'string' }, update: { $set: { n: '$data.label', m: '$data.label' } } },
        { type: 'bump', update: { $inc: { n: 1, ok: 1 }, $max: { m: 5 } } },
      ],
    }),
  );
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_DURABILITY: 'async', HUNT_ROUTES: routesFile, HUNT_WORKERS: '2' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  const events = [{ key: 'a', type: 'label', data: { label: 'text' } }, ...Array.from({ length: 3 }, () => ({ key: 'a', type: 'bump' }))];
  t.match(await client.request({ op: 'pub', id: 1, events }), { op: 'ack' });
  t.match(await client.request({ op: 'pub', id: 2, events: [{ key: 'b', type: 'bump' }] }), { op: 'ack' }, 'fits a new record');
  const { text } = await scrape(engine.port);
  // Summed over the workers: which one owns key a depends on its hash.
  const skipped = (operator: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('hunt_route_operations_skipped_total{') && line.includes(`operator="${operator}"`))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  t.equal(skipped('$inc'), 3, "each bump's $inc of the string");
  t.equal(skipped('$max'), 3, "each bump's $max of the string against a number");
  t.equal(skipped('$set'), 0);
  t.match(text, /# TYPE hunt_route_operations_skipped_total counter/);
  t.same((await getKey(engine.port, 'a')).body.fields, { n: 'text', m: 'text', ok: 3 }, 'the rest of each event applied');
  await client.close();
});
