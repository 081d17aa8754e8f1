// Storage failures. A failed write (the engine process hits its file-size limit, RLIMIT_FSIZE,
// lowered from outside with prlimit, as a full disk would): the pubs whose batch cannot be written
// get STORAGE and are not applied, reads and the health checks keep working, and once the limit is
// raised new pubs are acked again. With an idempotent producer's events in the failed batch the
// engine stops instead (1011, exit 1), and after the restart the producer's re-sends apply exactly
// once. A failed fsync in sync mode (a test-only fault, as an I/O error
// would make it): the batch is committed but maybe not on disk, so the engine answers neither ack
// nor STORAGE; it closes its connections (1011) and stops, and an idempotent producer's re-sends
// after the restart apply exactly once. Nothing is acked that was not stored.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { HuntClient, HuntError } from '../src/client/index.js';
import { storePath } from '../src/shared/store.js';
import { freePort, getKey, httpGet, startEngine, tempDir, TestClient } from './helpers.js';

function setFileSizeLimit(pid: number, soft: string): void {
  // Only the soft limit moves, so raising it again needs no privilege.
  const result = spawnSync('prlimit', ['--pid', String(pid), `--fsize=${soft}:unlimited`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`prlimit failed: ${result.stderr}`);
}

for (const durability of ['async', 'sync']) {
  t.test(`${durability}: a write failure answers STORAGE, keeps reads going, and recovers`, async (t) => {
    const dataDir = tempDir(t);
    // One store: one data file, whose size the file-size limit is set from.
    const engine = await startEngineProcess({ HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: durability, HUNT_WORKERS: '1', HUNT_STORES: '1' });
    t.teardown(() => engine.stop('SIGKILL'));
    const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
    await client.welcome();
    const pad = 'x'.repeat(8000);
    const pub = (id: number) => client.request({ op: 'pub', id, events: Array.from({ length: 20 }, (_, i) => ({ key: `big:${id}:${i}`, type: 't', data: { pad } })).concat([{ key: 'counter', type: 't', data: { pad: '' } }]) }, 'msgpack');

    t.equal((await pub(1)).op, 'ack');
    const dataFile = path.join(storePath(dataDir, 0), 'data.mdb');
    setFileSizeLimit(engine.pid, String(fs.statSync(dataFile).size + 64 * 1024));

    const replies = [];
    for (let id = 2; id < 40; id++) replies.push(await pub(id));
    const failed = replies.filter((r) => r.op === 'error');
    t.ok(failed.length > 0, `${failed.length} of ${replies.length} pubs failed once the file could not grow`);
    t.ok(failed.every((r) => r.code === 'STORAGE' && /storage/i.test(r.message)), 'each failure is STORAGE with a message');
    t.same(await httpGet(engine.port, '/healthz'), { status: 200, body: { status: 'ok' } }, 'alive');
    t.equal((await getKey(engine.port, 'big:1:0')).status, 200, 'reads keep working');

    setFileSizeLimit(engine.pid, 'unlimited');
    const after = [];
    for (let id = 40; id < 45; id++) after.push(await pub(id));
    t.ok(after.every((r) => r.op === 'ack'), 'acked again once the limit is raised');

    const acked = 1 + replies.filter((r) => r.op === 'ack').length + after.length;
    t.equal((await getKey(engine.port, 'counter')).body.count, acked, 'exactly the acked pubs are applied');
    const leftovers = await Promise.all(failed.map(async (r) => (await getKey(engine.port, `big:${r.id}:0`)).status));
    t.ok(leftovers.every((status) => status === 404), 'the failed pubs left nothing');
    await client.close();
    t.equal(await engine.stop(), 0, 'orderly stop');
    t.match(engine.output(), /batch commit failed; its events are not applied/, 'the failure is logged');
  });
}

t.test('sync: an fsync failure stops the engine without an answer; re-sends after the restart apply once', async (t) => {
  const dataDir = tempDir(t);
  const port = String(await freePort());
  const env = { HUNT_DATA_DIR: dataDir, HUNT_PORT: port, HUNT_DURABILITY: 'sync', HUNT_WORKERS: '1', HUNT_BATCH_MAX_EVENTS: '200', HUNT_SHUTDOWN_TIMEOUT_MS: '500' };
  const fired = new SharedArrayBuffer(4);
  let fatal: Error | null = null;
  const first = await startEngine(env, { workerFault: { point: 'flush', batch: 4, fired }, onFatal: (error) => (fatal = error) });
  const watcher = await TestClient.connect(first.port);
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${port}/v1/stream`, producer: 'fsync-test', lingerMs: 1, maxBatchEvents: 25, backoff: { initialMs: 20, maxMs: 100 } });
  t.teardown(() => client.close());

  const keys = 17;
  const events = 4000;
  const failures: string[] = [];
  let dups = 0;
  const publishes = Array.from({ length: events }, (_, i) =>
    client.publish({ key: `k${i % keys}`, type: 'tick' }).then(
      (result) => void (dups += result.dup ? 1 : 0),
      (error: HuntError) => void failures.push(error.code),
    ),
  );
  const deadline = Date.now() + 20_000;
  while (fatal === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(new Int32Array(fired)[0], 1, 'the fault fired');
  t.match(fatal, { message: /partition worker 0: storage: fsync failed: test fault: EIO/ }, 'the engine reported a fatal storage failure');
  t.same(await watcher.closed, { code: 1011, reason: 'the engine stopped after a fault; re-send unacknowledged pubs once it is back' }, 'connections are closed with 1011');
  t.same(failures, [], 'no publish was answered STORAGE (nor anything else) for the batch whose fsync failed');

  await first.stop();
  const second = await startEngine(env);
  t.teardown(() => second.stop());
  await Promise.all(publishes);
  t.same(failures, [], 'after the restart every publish was acknowledged');
  t.ok(dups > 0, `${dups} re-sent publishes were answered dup: their batch had been committed before its fsync failed`);
  let total = 0;
  for (let k = 0; k < keys; k++) total += (await getKey(second.port, `k${k}`)).body.count as number;
  t.equal(total, events, 'each event applied exactly once: the committed batch is a dup on re-send, the rest applied');
});

t.test('a failed commit holding an idempotent producer\'s events stops the engine; re-sends after the restart apply once', async (t) => {
  const dataDir = tempDir(t);
  const port = String(await freePort());
  const env = { HUNT_DATA_DIR: dataDir, HUNT_PORT: port, HUNT_DURABILITY: 'async', HUNT_WORKERS: '1', HUNT_STORES: '1' };
  const first = await startEngineProcess(env);
  t.teardown(() => first.stop('SIGKILL'));
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${port}/v1/stream`, producer: 'full-disk', maxBatchEvents: 10, backoff: { initialMs: 50, maxMs: 200 } });
  t.teardown(() => client.close());
  const pad = 'x'.repeat(4000);
  const publish = (i: number) => client.publish({ key: `d${i % 13}`, type: 't', data: { pad, i } });
  await Promise.all(Array.from({ length: 50 }, (_, i) => publish(i)));
  setFileSizeLimit(first.pid, String(fs.statSync(path.join(storePath(dataDir, 0), 'data.mdb')).size + 64 * 1024));
  const failures: string[] = [];
  const rest = Array.from({ length: 1000 }, (_, i) => publish(50 + i).catch((error: HuntError) => void failures.push(error.code)));
  t.equal(await new Promise((resolve) => first.child.once('exit', resolve)), 1, 'the engine exits with 1');
  t.match(first.output(), /batch commit failed with idempotent producers' events in it/, 'and says why');
  const second = await startEngineProcess(env);
  t.teardown(() => second.stop('SIGKILL'));
  await Promise.all(rest);
  t.same(failures, [], 'no publish failed: the client re-sent after the restart');
  let total = 0;
  for (let k = 0; k < 13; k++) total += (await getKey(second.port, `d${k}`)).body.count as number;
  t.equal(total, 1050, 'each event applied exactly once');
  t.equal(await second.stop(), 0);
});
