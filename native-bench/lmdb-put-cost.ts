// What one record write costs a partition worker in LMDB, apart from everything the engine does
// around it: one thread opens a store with the engine's options and commits batches of puts of
// ~75-byte values (the size of an encoded default-merge record) under random keys, as the partition
// loop's commit does. Reported per put, as the median of interleaved repeats: CPU time inside the
// transaction (lmdb-js's write instructions, key encoding and LMDB's B-tree put, page copies
// included) and CPU time of the commit. A store of 100 keys shows the per-put floor of the binding
// and the B-tree, larger ones what page copies add.
//
//   node dist/native-bench/lmdb-put-cost.js [--repeat 5] [--batches 200]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { median } from './report.js';
import { LMDB_ENV_OPTIONS } from '../src/shared/store.js';

interface Cost {
  /** µs of CPU per put inside the write transaction. */
  put: number;
  /** µs of CPU per put spent committing. */
  commit: number;
}

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const repeat = flag('repeat', 5);
const batches = flag('batches', 200);
const VALUE_BYTES = 75;

const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

function measure(keys: number, batch: number): Cost {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-put-cost-'));
  const root = open({ path: dir, ...LMDB_ENV_OPTIONS });
  const meta = root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' });
  const names = Array.from({ length: keys }, (_, i) => `player:${i}`);
  const value = Buffer.alloc(VALUE_BYTES, 7);
  let putUs = 0;
  let commitUs = 0;
  // The first quarter fills the store and warms the code; only the rest is counted.
  const warm = Math.ceil(batches / 4);
  for (let b = 0; b < warm + batches; b++) {
    const started = cpuUs();
    let putsDone = 0;
    root.transactionSync(() => {
      for (let i = 0; i < batch; i++) {
        value[0] = i & 0xff;
        meta.putSync(names[Math.floor(Math.random() * keys)]!, value);
      }
      putsDone = cpuUs();
    });
    if (b < warm) continue;
    putUs += putsDone - started;
    commitUs += cpuUs() - putsDone;
  }
  root.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const puts = batches * batch;
  return { put: putUs / puts, commit: commitUs / puts };
}

const grid: [keys: number, batch: number][] = [
  [100, 3000],
  [5000, 500],
  [5000, 3000],
  [5000, 20000],
  [50000, 3000],
  [500000, 3000],
];
const samples = new Map<string, Cost[]>(grid.map(([k, b]) => [`${k}/${b}`, []]));
for (let r = 0; r < repeat; r++) for (const [keys, batch] of grid) samples.get(`${keys}/${batch}`)!.push(measure(keys, batch));

console.log(`LMDB put cost, one thread, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores; medians of ${repeat} interleaved repeats of ${batches} batches`);
console.log('');
console.log('| keys in the store | puts per transaction | µs CPU per put, in the transaction | µs CPU per put, commit | total |');
console.log('|---:|---:|---:|---:|---:|');
for (const [keys, batch] of grid) {
  const costs = samples.get(`${keys}/${batch}`)!;
  const put = median(costs.map((c) => c.put));
  const commit = median(costs.map((c) => c.commit));
  console.log(`| ${keys.toLocaleString('en')} | ${batch.toLocaleString('en')} | ${put.toFixed(2)} | ${commit.toFixed(2)} | ${(put + commit).toFixed(2)} |`);
}
