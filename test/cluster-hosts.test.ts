// Cluster mode with several hosts, on a real 3-broker Kafka cluster on loopback: three engine
// processes form one group. Idempotent producers stream through host 1 while host 2 is SIGKILLed:
// its stores move to the other hosts, which restore them from the changelog and go on. Then a
// broker is SIGKILLed and the hosts keep accepting; then host 2 comes back and takes its stores
// again (restoring what changed meanwhile). Last, the producers reconnect to host 3 and re-send
// there. Every key's record, read through any host (redirects to the owner), holds each event
// exactly once, fan-out included. Subscriptions on host 1 to keys whose partitions go to host 2
// when it comes back end with `moved`; the TypeScript client's follow them there, and its `get`
// reads any key from its owner, and its prefix subscription reaches every host. Listings through
// any host list every host's partitions.
import { Kafka, logLevel } from 'kafkajs';
import t from 'tap';
import { startEngineProcess, type EngineProcess } from '../native-bench/engine-process.js';
import { startKafkaCluster } from '../native-bench/kafka-cluster.js';
import { subscriptionOfMetadata } from '../src/shared/group-subscription.js';
import { isKafkaError } from '../src/shared/kafka-client.js';
import { AssignerProtocol } from 'kafkajs';
import { HuntClient, type Update } from '../src/client/index.js';
import { tempDir, TestClient, until as untilOrThrow } from './helpers.js';
import { drive, PRODUCERS, ProducerState, recordsAsExpected, ROUTED } from './producer-load.js';

t.setTimeout(900_000);

const TOPIC = 'hosts-events';
const GROUP = 'hosts';
const kafka = await startKafkaCluster({ brokers: 3 });
t.teardown(() => kafka.stop());
const admin = new Kafka({ clientId: 'hunt-test', brokers: kafka.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
await admin.connect();
t.teardown(() => admin.disconnect());

const env = { ...ROUTED.env, HUNT_KAFKA_BROKERS: kafka.bootstrap, HUNT_KAFKA_TOPIC: TOPIC, HUNT_KAFKA_GROUP: GROUP, HUNT_DURABILITY: 'async', HUNT_WORKERS: '1', HUNT_ACCEPTORS: '1', HUNT_STORES: '6' };
const dirs = [tempDir(t), tempDir(t), tempDir(t)];
const start = (i: number) => startEngineProcess({ ...env, HUNT_DATA_DIR: dirs[i]! }, 90_000);
const url = (host: EngineProcess) => `http://127.0.0.1:${host.port}`;

/**
 * An admin request, tried again on a Kafka error for up to about 10 s: after a broker is killed the
 * admin client's connections to it are refused until its metadata moves on.
 */
async function askAdmin<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!isKafkaError(error) || attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The partitions the group deals to each host, while it is stable (null while it rebalances). */
async function dealt(): Promise<Map<string, number[]> | null> {
  const [group] = (await askAdmin(() => admin.describeGroups([GROUP]))).groups;
  if (group?.state !== 'Stable') return null;
  const byHost = new Map<string, number[]>();
  for (const member of group.members) {
    const info = subscriptionOfMetadata(member.memberMetadata);
    const assigned = member.memberAssignment.length === 0 ? [] : (AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[TOPIC] ?? []);
    if (info !== undefined && assigned.length > 0) byHost.set(info.host, [...(byHost.get(info.host) ?? []), ...assigned].sort((a, b) => a - b));
  }
  return byHost;
}

/** How many hosts the group deals partitions to, once it is stable and every partition has one (else 0). */
async function dealtHosts(): Promise<number> {
  const byHost = await dealt();
  if (byHost === null) return 0;
  const partitions = [...byHost.values()].reduce((n, assigned) => n + assigned.length, 0);
  return partitions === 66 ? byHost.size : 0; // 6 stores: the smallest multiple of 6 from 64
}

/** Waits until the group's deal has not changed for `quietMs` (a host late to rejoin brings a second rebalance). */
async function settled(what: string, quietMs = 5000): Promise<void> {
  let last = '';
  let since = Date.now();
  await until(what, async () => {
    const byHost = await dealt();
    const now = byHost === null ? 'rebalancing' : JSON.stringify([...byHost].sort());
    if (now !== last) [last, since] = [now, Date.now()];
    return byHost !== null && Date.now() - since >= quietMs;
  }, 120_000);
}

/** A key's record read through the host at `base`, following its redirect to the owner. */
async function readKey(base: string, key: string): Promise<{ status: number; body: any }> {
  for (;;) {
    const res = await fetch(`${base}/v1/keys/${encodeURIComponent(key)}`);
    if (res.status !== 503) return { status: res.status, body: res.status === 200 ? await res.json() : null };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The partitions the group deals to the host of data directory `dir`. */
async function partitionsOf(dir: string): Promise<number[]> {
  const [group] = (await askAdmin(() => admin.describeGroups([GROUP]))).groups;
  const partitions: number[] = [];
  for (const member of group?.members ?? []) {
    if (!subscriptionOfMetadata(member.memberMetadata)?.host.endsWith(`:${dir}`) || member.memberAssignment.length === 0) continue;
    partitions.push(...(AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[TOPIC] ?? []));
  }
  return partitions;
}

/** The sum of the changelog's committed positions (offsets) of `partitions`: it grows as their owner writes the changelog. */
async function changelogAt(partitions: number[]): Promise<number> {
  const [offsets] = await askAdmin(() => admin.fetchOffsets({ groupId: `${GROUP}.changelog`, topics: [TOPIC] }));
  return (offsets?.partitions ?? []).filter((p) => partitions.includes(p.partition)).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

async function changelogMoves(partitions: number[], what: string): Promise<void> {
  const from = await changelogAt(partitions);
  await until(what, async () => (await changelogAt(partitions)) > from, 120_000);
}

/** Every key a host lists (GET /v1/keys, paged), with its record. */
async function listAll(base: string, scope: 'all' | 'local'): Promise<Map<string, unknown>> {
  const listed = new Map<string, unknown>();
  let after: string | null = null;
  for (;;) {
    const query = new URLSearchParams({ limit: '50', scope, ...(after === null ? {} : { after }) });
    const res = await fetch(`${base}/v1/keys?${query}`);
    if (res.status === 503) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const page = (await res.json()) as { keys: { key: string; meta: unknown }[]; next: string | null };
    for (const { key, meta } of page.keys) listed.set(key, meta);
    if (page.next === null) return listed;
    after = page.next;
  }
}

const acked = (states: ProducerState[]) => states.reduce((n, s) => n + s.acked.size, 0);
async function ackedGrows(states: ProducerState[], by: number, what: string): Promise<void> {
  const from = acked(states);
  await until(what, async () => acked(states) >= from + by, 120_000);
}

/** The engine hosts of the test, for what they said when a wait fails. */
const hosts: EngineProcess[] = [];

/**
 * until(), whose timeout names what the hosts said about partitions moving (kafkajs's own noise
 * left out) in its message, which CI's report shows.
 */
async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  try {
    await untilOrThrow(what, condition, timeoutMs);
  } catch (error) {
    const said = hosts.map((host, i) => `host ${i + 1}:\n${host.output().split('\n').filter((l) => /taken over|assigned|restored|replaced|"level":[456]0,(?!.*"kafka")/.test(l)).join('\n').slice(-3000)}`);
    throw new Error(`${(error as Error).message}; the hosts said:\n${said.join('\n')}`);
  }
}

t.test('hosts die and come back, a broker dies, producers move between hosts: every key exact', async (t) => {
  t.teardown(() => Promise.all(hosts.map((h) => h.stop('SIGKILL'))));
  for (let i = 0; i < 3; i++) hosts.push(await start(i));
  await until('the group to deal partitions to all three hosts', async () => (await dealtHosts()) === 3, 120_000);

  const states = Array.from({ length: PRODUCERS }, (_, i) => new ProducerState(i));
  let phase = 'streaming';
  const viaHost1 = states.map((state) => drive(hosts[0]!.port, state, ROUTED, () => phase === 'move'));
  await until('host 2 to take its stores over', async () => /partitions taken over/.test(hosts[1]!.output()), 120_000);
  const host2 = await partitionsOf(dirs[1]!);
  t.ok(host2.length > 0, `host 2 applies partitions (${host2.length})`);
  await changelogMoves(host2, 'host 2 to write its changelog');
  await ackedGrows(states, 40, 'pubs acked through host 1');

  await hosts[1]!.stop('SIGKILL');
  await until('the group to deal host 2\'s stores to the other two', async () => (await dealtHosts()) === 2, 120_000);
  await until('host 2\'s stores to be restored from the changelog by the others', async () => /partitions restored from the changelog/.test(hosts[0]!.output() + hosts[2]!.output()), 120_000);
  await ackedGrows(states, 40, 'pubs acked after host 2 died');
  t.pass('host 2\'s stores were restored from the changelog by the others, and they go on');

  // Subscriptions on host 1 to a key of every partition: raw, and through the TypeScript client.
  const watchKeys = Array.from({ length: 64 }, (_, i) => `player:watch-${i}`);
  const watcher = await TestClient.connect(hosts[0]!.port, ['hunt.v1.json']);
  t.teardown(() => watcher.close());
  await watcher.welcome();
  const subAnswers = await Promise.all(watchKeys.map((key, i) => watcher.request({ op: 'sub', id: 1000 + i, keys: [key] })));
  const watchedHere = watchKeys.filter((_, i) => subAnswers[i].op === 'ack');
  t.ok(watchedHere.length > 0, `host 1 takes subscriptions of keys it applies (${watchedHere.length} of 64)`);
  t.ok(subAnswers.every((a: any) => a.op === 'ack' || (a.code === 'NOT_OWNER' && typeof a.owner === 'string' && a.owner.startsWith('http://127.0.0.1:'))), "and answers NOT_OWNER with the owner's URL for the others");
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${hosts[0]!.port}/v1/stream`, encoding: 'json' });
  t.teardown(() => client.close());
  const seen = new Map<string, Update['meta']>();
  for (const key of watchKeys) await client.subscribe(key, (update) => seen.set(update.key, update.meta));
  const underPrefix = new Map<string, number>();
  const probed = new Set<string>();
  await client.subscribe(
    'player:watch-',
    ({ key, meta }) => {
      if (meta.fields.name === 'probe') probed.add(key);
      if (meta.fields.name === 'after the move') underPrefix.set(key, (underPrefix.get(key) ?? 0) + 1);
    },
    { prefix: true },
  );

  await kafka.kill(2);
  await ackedGrows(states, 40, 'pubs acked with a broker down');
  t.pass('the hosts keep accepting with a broker down');
  await changelogMoves(host2, 'the others to write host 2\'s stores\' changelog');

  hosts[1] = await start(1);
  await until('host 2 to take stores again', async () => (await dealtHosts()) === 3, 120_000);
  await until('host 2 to restore what changed while it was away', async () => /partitions restored from the changelog/.test(hosts[1]!.output()), 120_000);
  await ackedGrows(states, 40, 'pubs acked after host 2 came back');
  t.pass('host 2 restored what changed while it was away, and goes on');

  // Host 1 gives up a store or more (to host 2, or to host 3 when a rebalance deals host 3's to
  // host 2 first, which happens when host 3 is late to rejoin).
  await until('host 1 to end the subscriptions of the keys that went to another host', async () => watcher.received.some((m) => m.op === 'moved'), 60_000);
  const moved = watcher.received.filter((m) => m.op === 'moved');
  const others = [url(hosts[1]!), url(hosts[2]!)];
  t.ok(moved.every((m) => others.includes(m.owner) && m.keys.every((key: string) => watchedHere.includes(key))), `each naming the new owner's URL (${moved.map((m) => `${m.keys.length} keys to host ${others.indexOf(m.owner) + 2}`).join(', ')})`);
  // The TypeScript client's subscriptions follow their keys: an event to each, published through
  // host 3, reaches it. Around a move a prefix subscriber can miss or see twice a change (see
  // docs/protocol.md), so this waits until no partition moves any more.
  await settled('the group to settle');
  const publisher = await TestClient.connect(hosts[2]!.port, ['hunt.v1.json']);
  await publisher.welcome();
  let pubId = 0;
  const publish = (keys: string[], name: string) => publisher.request({ op: 'pub', id: ++pubId, events: keys.map((key) => ({ key, type: 'join', data: { hunt: 'watch', name } })) });
  // A prefix subscription sees what a host applies after it is made there (no snapshot): the client
  // makes it at the new owner on `moved`, which comes up to a second after the move. Probes until
  // every key's change reaches it show that it has been made at every owner.
  await until('the prefix subscription to be made at every owner', async () => {
    await publish(watchKeys.filter((key) => !probed.has(key)), 'probe');
    await new Promise((r) => setTimeout(r, 500));
    return probed.size === watchKeys.length;
  }, 60_000).catch(() => {});
  t.equal(probed.size, watchKeys.length, 'the prefix subscription reaches every owner');
  const ack = await publish(watchKeys, 'after the move');
  t.equal(ack.op, 'ack', 'the watched keys\' events are acked');
  await publisher.close();
  await until("the client's subscriptions to see each watched key's event", async () => watchKeys.every((key) => seen.get(key)?.fields.name === 'after the move'), 60_000).catch(() => {});
  t.same(watchKeys.filter((key) => seen.get(key)?.fields.name !== 'after the move'), [], "the client's subscriptions got every key's update, the moved keys' from their new owner");
  await until("the client's prefix subscription to see each watched key's event", async () => underPrefix.size === watchKeys.length, 60_000).catch(() => {});
  t.same(watchKeys.filter((key) => underPrefix.get(key) !== 1).map((key) => `${key} ×${underPrefix.get(key) ?? 0}`), [], 'its prefix subscription, made on host 1, got each key\'s update once, from whichever host applies it');

  // The producers move to host 3 and re-send their last acked pubs there.
  phase = 'move';
  await Promise.all(viaHost1);
  const dupsBefore = states.reduce((n, s) => n + s.dups, 0);
  phase = 'streaming';
  const viaHost3 = states.map((state) => drive(hosts[2]!.port, state, ROUTED, () => phase === 'done'));
  await ackedGrows(states, 20, 'pubs acked through host 3');
  phase = 'done';
  await Promise.all(viaHost3);
  for (const state of states) t.equal(state.acked.size, state.nextSeq - 1, `producer ${state.index}: every pub acked`);
  t.comment(`re-sends acked as dup by host 3's acceptor: ${states.reduce((n, s) => n + s.dups, 0) - dupsBefore} (the apply side skips the others)`);

  const expected = ROUTED.expected(states);
  for (const [i, host] of hosts.entries()) {
    let actual = {};
    await until(
      `the records read through host ${i + 1} to reach the expected counts`,
      async () => JSON.stringify((actual = await recordsAsExpected((key) => readKey(url(host), key), expected))) === JSON.stringify(Object.fromEntries(expected)),
      120_000,
    ).catch(() => {});
    t.same(actual, Object.fromEntries(expected), `through host ${i + 1}: every key (fan-out keys included) holds each event exactly once`);
  }

  // WebSocket reads of a key another host applies are refused with its URL; the client follows it.
  const answers = await Promise.all([...expected.keys()].map((key, i) => watcher.request({ op: 'get', id: i + 1, key })));
  t.ok(answers.some((a: any) => a.op === 'meta'), 'host 1 answers get for its own keys');
  t.ok(answers.some((a: any) => a.op === 'error' && a.code === 'NOT_OWNER' && /applies: ask it there/.test(a.message)), 'and NOT_OWNER naming the owner for the others');
  const viaClient = new Map<string, unknown>();
  const viaRedirect = new Map<string, unknown>();
  for (const key of expected.keys()) {
    viaClient.set(key, await client.get(key));
    viaRedirect.set(key, (await readKey(url(hosts[0]!), key)).body);
  }
  t.same(Object.fromEntries(viaClient), Object.fromEntries(viaRedirect), "the client's get reads every key from its owner");

  // Listings: each host lists every host's partitions; with scope=local only its own (not the
  // copies of stores it held before host 2 came back).
  const listings = await Promise.all(hosts.map((host) => listAll(url(host), 'all')));
  for (const [i, listing] of listings.entries()) t.same(Object.fromEntries(listing), Object.fromEntries(listings[0]!), `host ${i + 1} lists what host 1 lists`);
  t.same([...expected.keys()].filter((key) => !listings[0]!.has(key) || JSON.stringify(listings[0]!.get(key)) !== JSON.stringify(viaRedirect.get(key))), [], 'every key, with its owner\'s record');
  const locals = await Promise.all(hosts.map((host) => listAll(url(host), 'local')));
  t.equal(locals.reduce((n, local) => n + local.size, 0), listings[0]!.size, "the hosts' own partitions' keys add up to the listing, none twice");
  client.close();
  await watcher.close();

  await kafka.restart(2);
  for (const host of hosts) t.equal(await host.stop(), 0, 'a clean stop');
  hosts.length = 0;
});
