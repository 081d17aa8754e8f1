// `npm run bench:threads -- [ROUTES_FILE ...] [--seconds N] [--repeat N]`
//
// Where the engine's CPU goes per event, by thread: the bench's hunt load (C=8, B=100, K=10,000,
// async) against a fresh engine for the default merge and for each routes file given, and each
// run's CPU time (from /proc, per thread) divided by the events acknowledged. Runs are interleaved
// (default, file 1, …, default, …) and each figure is the median of the repeats. Used to split the
// routes' cost between the front end and the workers (docs/performance.md, Routes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuTotal, engineThreadsOf, splitThreadCpu, startEngineProcess, threadCpuOf } from './engine-process.js';
import { runLoad, standardLoad } from './load-generator.js';
import { median } from './report.js';

interface Split {
  eventsPerSecond: number;
  /** µs of CPU per acked event: the acceptor threads, the partition workers, the rest (control, helpers). */
  acceptors: number;
  workers: number;
  rest: number;
}

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args.splice(i, 2)[1]! : fallback;
};
const seconds = Number(flag('seconds', '6'));
const repeat = Number(flag('repeat', '3'));
const configs: (string | null)[] = [null, ...args];
const workers = Math.max(1, os.availableParallelism());

async function measure(routes: string | null): Promise<Split> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-thread-cpu-'));
  const engine = await startEngineProcess({ HUNT_DATA_DIR: dir, HUNT_DURABILITY: 'async', HUNT_WORKERS: String(workers), ...(routes === null ? {} : { HUNT_ROUTES: routes }) });
  try {
    const threads = await engineThreadsOf(engine);
    let before = threadCpuOf(engine.pid);
    const load = await runLoad({ ...standardLoad(engine.port, seconds, 2), shape: 'hunt', onMeasuring: () => (before = threadCpuOf(engine.pid)) });
    const spent = splitThreadCpu(engine.pid, threads, before, threadCpuOf(engine.pid));
    const perEvent = (us: number) => us / load.ackedEvents;
    return { eventsPerSecond: load.eventsPerSecond, acceptors: perEvent(cpuTotal(spent.acceptors)), workers: perEvent(cpuTotal(spent.workers)), rest: perEvent(cpuTotal([spent.control, spent.other])) };
  } finally {
    await engine.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const runs = configs.map((): Split[] => []);
for (let r = 0; r < repeat; r++) {
  for (let c = 0; c < configs.length; c++) runs[c]!.push(await measure(configs[c]!));
}
console.log(`hunt load, async, ${workers} workers, ${seconds} s × ${repeat} interleaved, medians; CPU µs per acked event`);
console.log('| routes | events/s | acceptors | workers | other threads | total |');
console.log('|---|---:|---:|---:|---:|---:|');
configs.forEach((config, c) => {
  const pick = (field: keyof Split) => median(runs[c]!.map((run) => run[field]));
  const total = median(runs[c]!.map((run) => run.acceptors + run.workers + run.rest));
  const name = config === null ? 'none (default merge)' : path.basename(config);
  console.log(`| ${name} | ${Math.round(pick('eventsPerSecond')).toLocaleString('en-US')} | ${pick('acceptors').toFixed(2)} | ${pick('workers').toFixed(2)} | ${pick('rest').toFixed(2)} | ${total.toFixed(2)} |`);
});
