// A partition worker thread killed in the middle of the stream — from outside at any moment except
// inside an LMDB critical call, or by the test-only fault hook with a batch half applied in memory
// or committed but not yet released — the supervisor restarts its loop on the same rings, and
// every pub is acked with its events applied exactly once.
import t from 'tap';
import { getKey, httpGet, startEngine, tempDir, TestClient } from './helpers.js';

for (const durability of ['async', 'sync']) {
  t.test(`${durability}: worker threads terminated under load; counts stay exact`, async (t) => {
    const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: durability, HUNT_WORKERS: '2', HUNT_BATCH_MAX_EVENTS: '500', HUNT_MAX_IN_FLIGHT: '1000' });
    t.teardown(() => engine.stop());
    const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
    await client.welcome();
    const keys = 64;
    const pubs = 300;
    const replies = [];
    for (let i = 0; i < pubs; i++) {
      const events = Array.from({ length: 40 }, (_, e) => ({ key: `k${(i + e) % keys}`, type: 'tick', data: { i } }));
      replies.push(client.request({ op: 'pub', id: i, events }, 'msgpack'));
      if (i === 100 || i === 200) {
        // Kill while the ring still holds unapplied records, but not while a thread opens its
        // stores or is inside a write transaction: one terminated there never finishes ending or
        // aborts the process (kriszyp/lmdb-js#336).
        const victim = engine.pool.threads[i === 100 ? 0 : 1]!;
        t.ok(await engine.pool.holdCritical(10_000), 'no thread in an LMDB critical call');
        await victim.terminate();
        engine.pool.releaseCritical();
      }
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    const settled = await Promise.all(replies);
    t.equal(settled.filter((r) => r.op === 'ack').length, pubs, 'every pub acked');
    t.ok(engine.pool.restartCount >= 2, `supervisor restarted ${engine.pool.restartCount} loops`);
    let total = 0;
    for (let k = 0; k < keys; k++) {
      const { body } = await getKey(engine.port, `k${k}`);
      t.equal(body.count, body.version);
      total += body.count;
    }
    t.equal(total, pubs * 40, 'each event applied exactly once');
    await client.close();
  });
}

for (const durability of ['async', 'sync']) {
  // mid-commit: one of the worker's 4 stores committed the batch, the others did not.
  for (const point of ['mid-drain', 'mid-commit', 'after-commit'] as const) {
    t.test(`${durability}: a worker thread dies ${point}; the replacement applies each event once`, async (t) => {
      const fired = new SharedArrayBuffer(4);
      const engine = await startEngine(
        { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: durability, HUNT_WORKERS: '1', HUNT_STORES: '4', HUNT_BATCH_MAX_EVENTS: '200' },
        { workerFault: { point, batch: 3, fired } },
      );
      t.teardown(() => engine.stop());
      const client = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
      await client.welcome();
      const keys = 23;
      const pubs = 120;
      const replies = [];
      for (let i = 0; i < pubs; i++) {
        const events = Array.from({ length: 25 }, (_, e) => ({ key: `k${(i * 3 + e) % keys}`, type: 'tick' }));
        replies.push(client.request({ op: 'pub', id: i, events }, 'msgpack'));
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      const settled = await Promise.all(replies);
      t.equal(settled.filter((r) => r.op === 'ack').length, pubs, 'every pub acked');
      t.equal(new Int32Array(fired)[0], 1, 'the fault fired');
      t.equal(engine.pool.restartCount, 1, 'the supervisor restarted the loop once');
      let total = 0;
      for (let k = 0; k < keys; k++) {
        const { body } = await getKey(engine.port, `k${k}`);
        total += body.count;
      }
      t.equal(total, pubs * 25, 'each event applied exactly once');
      const { partitions } = (await httpGet(engine.port, '/v1/partitions')).body as { partitions: { appliedOffset: number; pendingEvents: number }[] };
      t.equal(partitions.reduce((sum, p) => sum + p.appliedOffset, 0), pubs * 25, 'each applied event got one offset of its partition, none skipped or given twice');
      t.ok(partitions.every((p) => p.pendingEvents === 0), 'no partition lags once every pub is acked');
      await client.close();
    });
  }
}
