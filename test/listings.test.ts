// HTTP listings: keys in key order with their metadata, by prefix and paged; the partitions with
// their owners and offsets.
import t from 'tap';
import { mergePages, type KeyPage } from '../src/main/http/listings.js';
import type { MetaRecord } from '../src/shared/metadata.js';
import { httpGet, startEngine, tempDir, TestClient } from './helpers.js';

t.test("hosts' pages merge into the page of the whole keyspace (cluster mode)", async (t) => {
  const meta = (n: number) => ({ version: n }) as MetaRecord;
  const sets = [['a', 'd', 'ü', 'z'], ['b', 'c', 'e'], ['é', 'f']];
  /** Each host's page: its first `limit` keys after `after`, as listKeys makes it. */
  const pageOf = (keys: string[], after: string | null, limit: number): KeyPage => {
    const later = keys.filter((key) => after === null || Buffer.compare(Buffer.from(key), Buffer.from(after)) > 0).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const taken = later.slice(0, limit);
    return { keys: taken.map((key) => ({ key, meta: meta(1) })), next: later.length > limit ? taken[taken.length - 1]! : null };
  };
  const listed: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 10; pages++) {
    const page = mergePages(sets.map((keys) => pageOf(keys, after, 2)), 2);
    listed.push(...page.keys.map((entry) => entry.key));
    if (page.next === null) break;
    after = page.next;
  }
  t.same(listed, ['a', 'b', 'c', 'd', 'e', 'f', 'z', 'é', 'ü'], 'paging the merge lists every key once, in UTF-8 byte order');
  const twice = mergePages([pageOf(['a', 'b'], null, 5), pageOf(['b', 'c'], null, 5)], 5);
  t.same(twice, { keys: ['a', 'b', 'c'].map((key) => ({ key, meta: meta(1) })), next: null }, 'a key two hosts list (a rebalance) is listed once');
});

t.test('GET /v1/keys pages through keys in order; GET /v1/partitions shows owners and offsets', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '2' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  const keys = ['hunt:1/b', 'hunt:1/a', 'zz', 'hunt:2/a', 'hunt:1/c', 'hunt:1/ü', 'a b'];
  t.match(await client.request({ op: 'pub', id: 1, events: keys.map((key, i) => ({ key, type: 't', data: { i } })) }), { op: 'ack' });

  const page1 = await httpGet(engine.port, '/v1/keys?prefix=hunt%3A1%2F&limit=2');
  t.equal(page1.status, 200);
  t.same(page1.body.keys.map((k: { key: string }) => k.key), ['hunt:1/a', 'hunt:1/b']);
  t.match(page1.body.keys[0].meta, { count: 1, fields: { i: 1 } });
  t.equal(page1.body.next, 'hunt:1/b');
  const page2 = await httpGet(engine.port, `/v1/keys?prefix=hunt%3A1%2F&limit=2&after=${encodeURIComponent(page1.body.next)}`);
  t.same(page2.body.keys.map((k: { key: string }) => k.key), ['hunt:1/c', 'hunt:1/ü']);
  const page3 = await httpGet(engine.port, `/v1/keys?prefix=hunt%3A1%2F&limit=2&after=${encodeURIComponent(page2.body.next)}`);
  t.same(page3.body, { keys: [], next: null }, 'the end');
  const all = await httpGet(engine.port, '/v1/keys');
  t.same(all.body.keys.map((k: { key: string }) => k.key), ['a b', 'hunt:1/a', 'hunt:1/b', 'hunt:1/c', 'hunt:1/ü', 'hunt:2/a', 'zz'], 'all keys, in UTF-8 byte order');
  t.equal(all.body.next, null);
  for (const bad of ['limit=0', 'limit=1001', 'limit=x', 'prefix=a%00b']) {
    t.match(await httpGet(engine.port, `/v1/keys?${bad}`), { status: 400, body: { error: 'BAD_QUERY' } }, bad);
  }

  const { status, body } = await httpGet(engine.port, '/v1/partitions');
  t.equal(status, 200);
  t.equal(body.partitions.length, 64);
  t.ok(body.partitions.every((p: { partition: number; worker: number }) => p.worker === p.partition % 2), 'owner = partition mod workers');
  t.equal(body.partitions.reduce((n: number, p: { appliedOffset: number }) => n + p.appliedOffset, 0), keys.length, 'applied offsets count the events');
  t.ok(body.partitions.every((p: { pendingEvents: number }) => p.pendingEvents === 0), 'nothing in flight after the ack');
  await client.close();
});
