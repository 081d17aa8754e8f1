// Scaling: events/s against HUNT_WORKERS (and HUNT_PARTITIONS), with the CPU per event of the
// front end (the main thread) and of the partition workers measured from /proc, and a model of a
// larger host built from those measured costs.
//
//   node dist/native-bench/scaling.js [--workers 1,2] [--partitions 64] [--durability async]
//                                     [--seconds 6] [--cores 16,64]
//
// The model: one main thread takes every frame, so the engine cannot pass 1 / (front-end CPU per
// event); W workers on their own cores pass W / (worker CPU per event); and all workers share one
// LMDB environment, whose write transactions run one at a time, so the engine cannot pass
// 1 / (write-transaction time per event), read from the engine's own commit-time metrics.
// Predicted events/s on an N-core host = min of the three with N − 1 workers, assuming the load
// arrives over the network (no generator on the host) and the per-event costs measured here hold.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { splitThreadCpu, startEngineProcess, threadCpuMicrosOf } from './engine-process.js';
import { fileURLToPath } from 'node:url';
import { runLoad, standardLoad } from './load-generator.js';
import { scalingSvg } from './report.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const list = (name: string, fallback: string) => flag(name, fallback).split(',').map(Number);
const workerCounts = list('workers', '1,2');
const partitionCounts = list('partitions', '64');
const durability = flag('durability', 'async');
const seconds = Number(flag('seconds', '6'));
const coreCounts = list('cores', '16,64');

interface Row {
  workers: number;
  partitions: number;
  eventsPerSecond: number;
  p99: number;
  /** CPU µs per event: main thread, the partition workers (the W busiest other threads), everything else. */
  frontUs: number;
  workerUs: number;
  otherUs: number;
  /** µs per event spent inside LMDB write transactions (async: hunt_commit_seconds), which are serialised. */
  writeTxnUs: number;
}

/** Sum of one metric's samples over its label sets, from the engine's /metrics text. */
async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const rows: Row[] = [];
for (const partitions of partitionCounts) {
  for (const workers of workerCounts) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-scaling-'));
    const engine = await startEngineProcess({ HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: durability, HUNT_WORKERS: String(workers), HUNT_PARTITIONS: String(partitions), HUNT_LOG_LEVEL: 'info' });
    let before = new Map<number, number>();
    const result = await runLoad({ ...standardLoad(engine.port, seconds, 2), onMeasuring: () => (before = threadCpuMicrosOf(engine.pid)) });
    const after = threadCpuMicrosOf(engine.pid);
    const writeTxnUs = durability === 'async' ? ((await metricSum(engine.port, 'hunt_commit_seconds_sum')) * 1e6) / (await metricSum(engine.port, 'hunt_commit_batch_events_sum')) : NaN;
    await engine.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    const spent = splitThreadCpu(engine.pid, before, after, workers);
    const perEvent = (us: number) => us / result.ackedEvents;
    const row = { workers, partitions, eventsPerSecond: result.eventsPerSecond, p99: result.latencyMs.p99, frontUs: perEvent(spent.main), workerUs: perEvent(spent.workers), otherUs: perEvent(spent.other), writeTxnUs };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const lines = [
  `# Scaling on ${os.hostname()} (${os.availableParallelism()} cores), ${durability}, measured`,
  '',
  '| HUNT_WORKERS | HUNT_PARTITIONS | events/s | p99 ms | front end µs/event | workers µs/event | other threads µs/event | in LMDB write txns µs/event |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.workers} | ${r.partitions} | ${fmt(r.eventsPerSecond)} | ${fmt(r.p99, 1)} | ${fmt(r.frontUs, 2)} | ${fmt(r.workerUs, 2)} | ${fmt(r.otherUs, 2)} | ${fmt(r.writeTxnUs, 2)} |`),
];
// The model uses the run with the most events/s: its per-event costs are those at full batches.
const best = rows.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
const frontLimit = 1e6 / best.frontUs;
const workerLimit = (workers: number) => (workers * 1e6) / (best.workerUs + best.otherUs);
// The time a transaction holds the lock: from the runs with one worker, where none waits for
// another (with more, the metric includes the wait). Unknown (NaN) in sync mode, where it includes
// the fsync: then the model leaves it out.
const writeTxnUs = Math.min(...rows.filter((r) => r.workers === 1).map((r) => r.writeTxnUs));
const writeLockLimit = Number.isFinite(writeTxnUs) ? 1e6 / writeTxnUs : Infinity;
lines.push(
  '',
  `## Model of a larger host (predicted, from the measured costs of HUNT_WORKERS=${best.workers})`,
  '',
  `Front end: ${fmt(best.frontUs, 2)} µs/event on its one thread → at most ${fmt(frontLimit)} events/s, whatever the cores. ` +
    `Workers: ${fmt(best.workerUs + best.otherUs, 2)} µs/event (their threads plus LMDB, GC and other helpers) → ${fmt(workerLimit(1))} events/s per worker core. ` +
    (writeLockLimit === Infinity
      ? 'LMDB write transactions: not measured (sync mode, whose metric includes the fsync, or no run with one worker), left out.'
      : `LMDB write transactions (one at a time in the shared environment; timed with one worker, so without waits): ${fmt(writeTxnUs, 2)} µs/event → at most ${fmt(writeLockLimit)} events/s, whatever the cores.`),
  '',
  '| cores | workers | predicted events/s | limited by |',
  '|---:|---:|---:|---|',
  ...coreCounts.map((cores) => {
    const workers = cores - 1;
    const predicted = Math.min(frontLimit, workerLimit(workers), writeLockLimit);
    const limit = predicted === frontLimit ? 'the single front-end thread' : predicted === writeLockLimit ? "LMDB's single writer" : 'the workers';
    return `| ${cores} | ${workers} | ${fmt(predicted)} | ${limit} |`;
  }),
);
console.log(lines.join('\n'));

// Beside the bench's results: the tables and a curve of events/s over workers.
const resultsDir = fileURLToPath(new URL('../../native-bench/results/', import.meta.url));
fs.mkdirSync(resultsDir, { recursive: true });
const stem = path.join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${os.hostname()}-scaling`);
fs.writeFileSync(`${stem}.svg`, scalingSvg(rows, `events/s over HUNT_WORKERS, ${durability}, measured on ${os.hostname()} (${os.availableParallelism()} cores)`));
fs.writeFileSync(`${stem}.md`, `${lines.join('\n')}\n\n![events/s over workers](${path.basename(stem)}.svg)\n`);
console.log(`\nresults: ${path.relative(process.cwd(), stem)}.{md,svg}`);
