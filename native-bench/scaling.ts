// Scaling: events/s against HUNT_WORKERS (and HUNT_PARTITIONS), with the CPU per event of the
// front end (the main thread) and of the partition workers measured from /proc, and a model of a
// larger host built from those measured costs.
//
//   node dist/native-bench/scaling.js [--workers 1,2] [--partitions 64] [--durability async]
//                                     [--seconds 6] [--cores 16,64]
//
// The model: one main thread takes every frame, so the engine cannot pass 1 / (front-end CPU per
// event); W workers on their own cores pass W / (worker CPU per event). Predicted events/s on an
// N-core host = min(front-end limit, (N − 1) workers' limit), assuming the load arrives over the
// network (no generator on the host) and the per-event costs measured here hold there.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEngineProcess } from './engine-process.js';
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

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU µs of each thread of a process, by thread id. */
function threadCpu(pid: number): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpu.set(Number(tid), ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return cpu;
}

interface Row {
  workers: number;
  partitions: number;
  eventsPerSecond: number;
  p99: number;
  /** CPU µs per event: main thread, the partition workers (the W busiest other threads), everything else. */
  frontUs: number;
  workerUs: number;
  otherUs: number;
}

const rows: Row[] = [];
for (const partitions of partitionCounts) {
  for (const workers of workerCounts) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-scaling-'));
    const engine = await startEngineProcess({ HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: durability, HUNT_WORKERS: String(workers), HUNT_PARTITIONS: String(partitions), HUNT_LOG_LEVEL: 'info' });
    let before = new Map<number, number>();
    const result = await runLoad({ ...standardLoad(engine.port, seconds, 2), onMeasuring: () => (before = threadCpu(engine.pid)) });
    const after = threadCpu(engine.pid);
    await engine.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    const spent = [...after].map(([tid, us]) => ({ tid, us: us - (before.get(tid) ?? 0) }));
    const perEvent = (us: number) => us / result.ackedEvents;
    const main = spent.find((t) => t.tid === engine.pid)?.us ?? 0;
    const others = spent.filter((t) => t.tid !== engine.pid).sort((a, b) => b.us - a.us);
    const workerUs = others.slice(0, workers).reduce((sum, t) => sum + t.us, 0);
    const otherUs = others.slice(workers).reduce((sum, t) => sum + t.us, 0);
    const row = { workers, partitions, eventsPerSecond: result.eventsPerSecond, p99: result.latencyMs.p99, frontUs: perEvent(main), workerUs: perEvent(workerUs), otherUs: perEvent(otherUs) };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const lines = [
  `# Scaling on ${os.hostname()} (${os.availableParallelism()} cores), ${durability}, measured`,
  '',
  '| HUNT_WORKERS | HUNT_PARTITIONS | events/s | p99 ms | front end µs/event | workers µs/event | other threads µs/event |',
  '|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.workers} | ${r.partitions} | ${fmt(r.eventsPerSecond)} | ${fmt(r.p99, 1)} | ${fmt(r.frontUs, 2)} | ${fmt(r.workerUs, 2)} | ${fmt(r.otherUs, 2)} |`),
];
// The model uses the run with the most events/s: its per-event costs are those at full batches.
const best = rows.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
const frontLimit = 1e6 / best.frontUs;
const workerLimit = (workers: number) => (workers * 1e6) / (best.workerUs + best.otherUs);
lines.push(
  '',
  `## Model of a larger host (predicted, from the measured costs of HUNT_WORKERS=${best.workers})`,
  '',
  `Front end: ${fmt(best.frontUs, 2)} µs/event on its one thread → at most ${fmt(frontLimit)} events/s, whatever the cores. ` +
    `Workers: ${fmt(best.workerUs + best.otherUs, 2)} µs/event (their threads plus LMDB, GC and other helpers) → ${fmt(workerLimit(1))} events/s per worker core.`,
  '',
  '| cores | workers | predicted events/s | limited by |',
  '|---:|---:|---:|---|',
  ...coreCounts.map((cores) => {
    const workers = cores - 1;
    const predicted = Math.min(frontLimit, workerLimit(workers));
    return `| ${cores} | ${workers} | ${fmt(predicted)} | ${predicted === frontLimit ? 'the single front-end thread' : 'the workers'} |`;
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
