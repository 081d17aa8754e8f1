// The data-directory upgrade, on a directory the previous release wrote: test/fixtures/
// format2-data.tar.gz is a format-2 directory (one LMDB environment: 8 partitions, records of 17
// keys with ms timestamps and 64-bit integers, an idempotent producer's marks, the event log) made
// by the engine at commit ad3507c, and format2-expected.json what that engine served from it. The
// engine refuses it, naming the command; `hunt data upgrade` moves everything into stores; the
// engine then serves exactly what the old one did, with any worker count.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { httpGet, runEngineToExit, tempDir, TestClient, TWO_ACCEPTORS } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const HUNT = fileURLToPath(new URL('../src/cli/hunt.js', import.meta.url));
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'format2-expected.json'), 'utf8')) as {
  records: { key: string; meta: unknown }[];
  partitions: { partition: number; appliedOffset: number; log: { first: number; last: number } | null }[];
  producer: { name: string; seq: number };
};

function hunt(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HUNT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('a format-2 directory is refused, then upgraded by hunt data upgrade with everything in it', async (t) => {
  const dir = tempDir(t);
  t.equal(spawnSync('tar', ['xzf', path.join(FIXTURES, 'format2-data.tar.gz'), '-C', dir]).status, 0, 'the fixture unpacks');

  const refused = runEngineToExit({ HUNT_DATA_DIR: dir });
  t.equal(refused.status, 2, 'the engine refuses the old format');
  t.match(refused.stdout, `Upgrade it offline, once: hunt data upgrade ${dir}`);

  const tooMany = await hunt(['data', 'upgrade', dir, '--stores', '9']);
  t.equal(tooMany.code, 2);
  t.match(tooMany.stderr, /--stores 9 is more than the directory's 8 partitions/);

  const upgraded = await hunt(['data', 'upgrade', dir, '--stores', '3']);
  t.equal(upgraded.code, 0, upgraded.stderr);
  t.match(upgraded.stdout, /8 partitions in 3 stores; copied 17 records, 8 partition offsets, 8 producer marks, 65 log segments/);
  t.ok(fs.existsSync(path.join(dir, 'lmdb.format2', 'data.mdb')), 'the old environment is kept');
  t.match(JSON.parse(fs.readFileSync(path.join(dir, 'engine.json'), 'utf8')), { format: 3, partitions: 8, stores: 3 });
  const again = await hunt(['data', 'upgrade', dir]);
  t.equal(again.code, 2, 'a second upgrade is refused');
  t.match(again.stderr, /format 3/);

  for (const threads of [{ HUNT_WORKERS: '1', HUNT_ACCEPTORS: '1' }, TWO_ACCEPTORS]) {
    const workers = threads.HUNT_WORKERS;
    const engine = await startEngineProcess({ HUNT_DATA_DIR: dir, ...threads, HUNT_LOG_RETENTION_EVENTS: '1000' });
    t.teardown(() => engine.stop('SIGKILL'));
    t.same((await httpGet(engine.port, '/v1/keys?limit=1000')).body.keys, expected.records, `${workers} worker(s): every record as the old engine served it`);
    const partitions = (await httpGet(engine.port, '/v1/partitions')).body.partitions as { partition: number; store: number; appliedOffset: number; log: unknown }[];
    t.same(
      partitions.map(({ partition, appliedOffset, log }) => ({ partition, appliedOffset, log })),
      expected.partitions,
      'every partition\'s offset and log range',
    );
    t.same(partitions.map((p) => p.store), [0, 1, 2, 0, 1, 2, 0, 1], 'partition p in store p mod 3');
    const client = await TestClient.connect(engine.port);
    await client.welcome();
    for (const { partition, log } of expected.partitions) {
      const page = await client.request({ op: 'replay', id: partition, partition, from: 0, limit: 1000 });
      t.equal(page.events.length, log === null ? 0 : (log as { last: number }).last, `partition ${partition}: the whole log replays`);
    }
    await client.close();
    const producer = await TestClient.connect(engine.port);
    await producer.welcome();
    t.match(await producer.request({ op: 'hello', id: 100, producer: expected.producer.name }), { op: 'ack', seq: expected.producer.seq }, 'the producer\'s marks moved with its partitions');
    // Its last pub (seq 60) was one event on player:11.
    t.match(await producer.request({ op: 'pub', id: 101, seq: expected.producer.seq, events: [{ key: 'player:11', type: 'clue' }] }), { op: 'ack', dup: true }, 'a re-send of its last pub is a dup');
    await producer.close();
    t.equal(await engine.stop(), 0);
  }
});
