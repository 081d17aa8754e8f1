// Storage failures: the engine process hits its file-size limit (RLIMIT_FSIZE, lowered from outside
// with prlimit, as a full disk would): the pubs whose batch cannot be written get STORAGE and are
// not applied, reads and the health checks keep working, and once the limit is raised new pubs are
// acked again. Nothing is acked that was not stored.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { getKey, httpGet, tempDir, TestClient } from './helpers.js';

function setFileSizeLimit(pid: number, soft: string): void {
  // Only the soft limit moves, so raising it again needs no privilege.
  const result = spawnSync('prlimit', ['--pid', String(pid), `--fsize=${soft}:unlimited`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`prlimit failed: ${result.stderr}`);
}

for (const durability of ['async', 'sync']) {
  t.test(`${durability}: a write failure answers STORAGE, keeps reads going, and recovers`, async (t) => {
    const dataDir = tempDir(t);
    const engine = await startEngineProcess({ HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: durability, HUNT_WORKERS: '1' });
    t.teardown(() => engine.stop('SIGKILL'));
    const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
    await client.welcome();
    const pad = 'x'.repeat(8000);
    const pub = (id: number) => client.request({ op: 'pub', id, events: Array.from({ length: 20 }, (_, i) => ({ key: `big:${id}:${i}`, type: 't', data: { pad } })).concat([{ key: 'counter', type: 't', data: { pad: '' } }]) }, 'msgpack');

    t.equal((await pub(1)).op, 'ack');
    const dataFile = path.join(dataDir, 'lmdb', 'data.mdb');
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
