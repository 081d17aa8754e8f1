// Storage layout decision: one LMDB environment shared by all partitions, or one environment per
// partition? Worker threads apply batches of random-key updates to the partitions they own, as the
// partition loop does (one write transaction per batch and environment; in sync mode an fsync of
// every environment the batch touched), and report updates/s.
//
//   node dist/native-bench/lmdb-layout.js [seconds=5] [batch=2000] [keys=10000] [partitions=64]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { open, type RootDatabase } from 'lmdb';
import { partitionOf, partitionsOwnedBy } from '../src/shared/partition.js';
import { LMDB_ENV_OPTIONS } from '../src/shared/store.js';

type Layout = 'shared' | 'per-partition';
interface Job {
  dir: string;
  layout: Layout;
  durability: 'sync' | 'async';
  worker: number;
  workers: number;
  partitions: number;
  batch: number;
  keys: number;
  seconds: number;
}

const openEnv = (envPath: string) => open({ path: envPath, ...LMDB_ENV_OPTIONS });
const sync = (env: RootDatabase) =>
  new Promise<void>((resolve, reject) =>
    (env as unknown as { sync(cb: (e?: Error) => void): void }).sync((e) => (e ? reject(e) : resolve())),
  );

async function runWorker(job: Job): Promise<number> {
  const owned = partitionsOwnedBy(job.worker, job.workers, { partitions: job.partitions, stores: job.partitions });
  const envs = new Map<number, RootDatabase>();
  const shared = job.layout === 'shared' ? openEnv(path.join(job.dir, 'shared')) : null;
  for (const p of owned) envs.set(p, shared ?? openEnv(path.join(job.dir, `p${p}`)));
  const dbs = new Map([...envs].map(([p, env]) => [p, env.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' })]));
  const ownedKeys = [];
  for (let k = 0; k < job.keys; k++) {
    const key = `player:${k}`;
    if (owned.includes(partitionOf(key, job.partitions))) ownedKeys.push(key);
  }
  const value = Buffer.alloc(120, 7);
  let updates = 0;
  const deadline = performance.now() + job.seconds * 1000;
  while (performance.now() < deadline) {
    const byPartition = new Map<number, string[]>();
    for (let i = 0; i < job.batch; i++) {
      const key = ownedKeys[Math.floor(Math.random() * ownedKeys.length)]!;
      const p = partitionOf(key, job.partitions);
      let list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, (list = []));
      list.push(key);
    }
    if (shared !== null) {
      shared.transactionSync(() => {
        for (const [p, keys] of byPartition) for (const key of keys) dbs.get(p)!.putSync(key, value);
      });
      if (job.durability === 'sync') await sync(shared);
    } else {
      for (const [p, keys] of byPartition) envs.get(p)!.transactionSync(() => keys.forEach((key) => dbs.get(p)!.putSync(key, value)));
      if (job.durability === 'sync') await Promise.all([...byPartition.keys()].map((p) => sync(envs.get(p)!)));
    }
    updates += job.batch;
  }
  for (const env of new Set(envs.values())) await env.close();
  return updates / job.seconds;
}

async function main(): Promise<void> {
  const [seconds = '5', batch = '2000', keys = '10000', partitions = '64'] = process.argv.slice(2);
  const rows: string[] = ['| layout | durability | workers | updates/s |', '|---|---|---:|---:|'];
  for (const durability of ['async', 'sync'] as const) {
    for (const workers of [1, 2]) {
      for (const layout of ['shared', 'per-partition'] as Layout[]) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-layout-'));
        const rates = await Promise.all(
          Array.from({ length: workers }, (_, worker) => {
            const job: Job = { dir, layout, durability, worker, workers, partitions: Number(partitions), batch: Number(batch), keys: Number(keys), seconds: Number(seconds) };
            return new Promise<number>((resolve, reject) => {
              const thread = new Worker(new URL(import.meta.url), { workerData: job });
              thread.once('message', resolve);
              thread.once('error', reject);
            });
          }),
        );
        fs.rmSync(dir, { recursive: true, force: true });
        const total = rates.reduce((a, b) => a + b, 0);
        rows.push(`| ${layout} | ${durability} | ${workers} | ${Math.round(total).toLocaleString('en-US')} |`);
        process.stderr.write(`${rows[rows.length - 1]}\n`);
      }
    }
  }
  console.log(`batch ${batch} random updates of 120-byte values over ${keys} keys, ${partitions} partitions, ${seconds} s per row\n`);
  console.log(rows.join('\n'));
}

if (isMainThread) await main();
else parentPort!.postMessage(await runWorker(workerData as Job));
