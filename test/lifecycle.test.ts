// The engine as a real process: restarts keep acked data (after SIGTERM and after SIGKILL), an
// orderly stop acks everything it took, the partition count is fixed per data directory, the
// worker count may change, and a second engine cannot open the same data directory.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startEngineProcess, type EngineProcess } from '../native-bench/engine-process.js';
import { getKey, runEngineToExit, tempDir, TestClient, TWO_ACCEPTORS } from './helpers.js';

/** Publishes `pubs` pubs of `size` events over `keys` keys; resolves with the replies. */
async function publish(engine: EngineProcess, pubs: number, size: number, keys: number, firstId = 0) {
  const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await client.welcome();
  const replies = [];
  for (let i = 0; i < pubs; i++) {
    const events = Array.from({ length: size }, (_, e) => ({ key: `key-${(i * size + e) % keys}`, type: 'tick', data: { i } }));
    replies.push(client.request({ op: 'pub', id: firstId + i, events }, 'msgpack'));
  }
  return { client, replies };
}

async function totalCount(engine: EngineProcess, keys: number): Promise<number> {
  let total = 0;
  for (let k = 0; k < keys; k++) {
    const { status, body } = await getKey(engine.port, `key-${k}`);
    if (status === 200) total += body.count;
  }
  return total;
}

for (const durability of ['sync', 'async']) {
  t.test(`${durability}: acked events survive SIGTERM and SIGKILL restarts`, async (t) => {
    const dir = tempDir(t);
    const env = { HUNT_DATA_DIR: dir, HUNT_DURABILITY: durability, HUNT_WORKERS: '2' };
    let engine = await startEngineProcess(env);
    let { client, replies } = await publish(engine, 40, 50, 97);
    for (const r of await Promise.all(replies)) t.equal(r.op, 'ack');
    await client.close();
    t.equal(await engine.stop('SIGTERM'), 0, 'exit 0 on SIGTERM');

    engine = await startEngineProcess(env);
    t.equal(await totalCount(engine, 97), 2000, 'all acked events after a clean restart');
    ({ client, replies } = await publish(engine, 40, 50, 97, 1000));
    for (const r of await Promise.all(replies)) t.equal(r.op, 'ack');
    t.not(await engine.stop('SIGKILL'), 0, 'killed');

    engine = await startEngineProcess(env);
    t.equal(await totalCount(engine, 97), 4000, 'all acked events after kill -9');
    t.equal(await engine.stop(), 0);
  });
}

t.test('SIGTERM under load: every pub taken is acked, exactly those are applied, exit 0', async (t) => {
  const env = { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_WORKERS: '1', HUNT_MAX_IN_FLIGHT: '4096' };
  let engine = await startEngineProcess(env);
  const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await client.welcome();
  const pub = (id: number) => ({ op: 'pub', id, events: Array.from({ length: 100 }, (_, e) => ({ key: `key-${(id + e) % 50}`, type: 'tick' })) });
  // Some pubs are surely taken before the signal (the first is acked), and a deep queue of 150,000
  // events keeps the engine draining long enough that pubs arriving meanwhile meet the refusal.
  t.match(await client.request(pub(0), 'msgpack'), { op: 'ack', id: 0 }, 'the first pub is acked before the signal');
  let sent = 1;
  for (; sent < 1500; sent++) client.send(pub(sent), 'msgpack');
  const exited = engine.stop('SIGTERM');
  // Keep publishing while the engine stops, until it closes the connection.
  let open = true;
  void client.closed.then(() => (open = false));
  while (open && sent < 4000) {
    client.send(pub(sent++), 'msgpack');
    await new Promise((r) => setTimeout(r, 1));
  }
  const { code } = await client.closed;
  t.equal(await exited, 0, 'exit 0');
  t.equal(code, 1001, 'connection closed as going away');
  const replies = [{ op: 'ack', id: 0 }, ...client.received.filter((m) => m.op === 'ack' || m.op === 'error')];
  const acked = replies.filter((r) => r.op === 'ack').length;
  const refused = replies.filter((r) => r.op === 'error' && r.code === 'SHUTTING_DOWN').length;
  t.ok(acked > 0, `${acked} pubs taken and acked`);
  t.ok(refused > 0, `${refused} pubs refused with SHUTTING_DOWN while stopping`);
  const lastAcked = Math.max(...replies.filter((r) => r.op === 'ack').map((r) => r.id));
  const firstRefused = Math.min(...replies.filter((r) => r.op === 'error').map((r) => r.id));
  t.ok(lastAcked < firstRefused, 'the engine stops taking at one point of the stream');
  t.equal(replies.length, acked + refused, 'no other replies');
  t.equal(new Set(replies.map((r) => r.id)).size, replies.length, 'one reply per pub');
  engine = await startEngineProcess(env);
  t.equal(await totalCount(engine, 50), acked * 100, 'applied exactly the acked pubs');
  t.equal(await engine.stop(), 0);
});

t.test('the partition and store counts are fixed per data directory; the worker and acceptor counts are not', async (t) => {
  const dir = tempDir(t);
  let engine = await startEngineProcess({ HUNT_DATA_DIR: dir, HUNT_PARTITIONS: '16', HUNT_STORES: '4', HUNT_WORKERS: '1', HUNT_ACCEPTORS: '1' });
  let { client, replies } = await publish(engine, 10, 30, 41);
  for (const r of await Promise.all(replies)) t.equal(r.op, 'ack');
  await client.close();
  t.equal(await engine.stop(), 0);

  const mismatch = runEngineToExit({ HUNT_DATA_DIR: dir, HUNT_PARTITIONS: '32' });
  t.equal(mismatch.status, 2);
  t.match(mismatch.stdout, /HUNT_PARTITIONS=32 but the data directory .* was created with 16; it is fixed when a data directory is created/);
  const storesMismatch = runEngineToExit({ HUNT_DATA_DIR: dir, HUNT_STORES: '8' });
  t.equal(storesMismatch.status, 2);
  t.match(storesMismatch.stdout, /HUNT_STORES=8 but the data directory .* was created with 4/);

  engine = await startEngineProcess({ HUNT_DATA_DIR: dir, ...TWO_ACCEPTORS });
  const welcomeClient = await TestClient.connect(engine.port);
  t.match(await welcomeClient.welcome(), { partitions: 16 }, 'recorded count used when unset');
  await welcomeClient.close();
  ({ client, replies } = await publish(engine, 10, 30, 41, 100));
  for (const r of await Promise.all(replies)) t.equal(r.op, 'ack');
  t.equal(await totalCount(engine, 41), 600, 'data written with 1 acceptor and 1 worker and with 2 acceptors and 3 workers adds up');
  await client.close();
  t.equal(await engine.stop(), 0);

  // More workers than stores: the extra workers own nothing and wait.
  engine = await startEngineProcess({ HUNT_DATA_DIR: dir, HUNT_WORKERS: '6' });
  ({ client, replies } = await publish(engine, 10, 30, 41, 200));
  for (const r of await Promise.all(replies)) t.equal(r.op, 'ack');
  t.equal(await totalCount(engine, 41), 900, 'and with 6 workers over 4 stores');

  const second = runEngineToExit({ HUNT_DATA_DIR: dir });
  t.equal(second.status, 2, 'a second engine on the same data directory refuses to start');
  t.match(second.stdout, /is in use by another engine \(pid \d+/);
  await client.close();
  t.equal(await engine.stop(), 0);
});

t.test('a port in use is a clear start-up error', async (t) => {
  const first = await startEngineProcess({ HUNT_DATA_DIR: tempDir(t) });
  const second = runEngineToExit({ HUNT_DATA_DIR: tempDir(t), HUNT_PORT: String(first.port) });
  t.equal(second.status, 1);
  t.match(second.stdout, `start-up failed: cannot listen on 127.0.0.1:${first.port}`);
  t.equal(await first.stop(), 0);
});

t.test('a data directory that is not what it should be is a clear error, never a fresh start', async (t) => {
  const orphan = tempDir(t);
  fs.mkdirSync(path.join(orphan, 'lmdb'));
  const noEngineFile = runEngineToExit({ HUNT_DATA_DIR: orphan });
  t.equal(noEngineFile.status, 2);
  t.match(noEngineFile.stdout, 'holds LMDB data but no engine.json');

  const refusedEngineFile = (engineJson: string, message: string): void => {
    const dir = tempDir(t);
    fs.writeFileSync(path.join(dir, 'engine.json'), engineJson);
    const run = runEngineToExit({ HUNT_DATA_DIR: dir });
    t.equal(run.status, 2);
    t.match(run.stdout, message);
    t.notOk(fs.existsSync(path.join(dir, 'lmdb')), 'nothing was created');
  };
  refusedEngineFile('{"format":3,"partitions":"many","stores":1}', 'is not a valid engine file');
  refusedEngineFile('{"format":3,"partitions":4,"stores":8}', 'is not a valid engine file (format 3 with partitions 1..65535 and stores 1..partitions)');
  // Format 1 directories hold event log entries of an older layout; format 2 is upgradable.
  refusedEngineFile('{"format":1,"partitions":64,"createdAt":"2026-11-20T00:00:00.000Z"}', 'says its data is in format 1; this engine reads format 3 only');
  refusedEngineFile('{"format":2,"partitions":64,"createdAt":"2026-11-20T00:00:00.000Z"}', 'Upgrade it offline, once: hunt data upgrade');
});
