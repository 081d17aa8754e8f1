// Interleaved A/B runs of two engine builds (or two settings of one build) under the bench's
// standard load: this VM drifts by 25–50% within minutes, so builds are compared as pairs run back
// to back in alternating order, and judged by the median of the pairs' ratios.
//
//   node dist/native-bench/ab.js --a DIR_A --b DIR_B [--env-a K=V,…] [--env-b K=V,…]
//        [--durability sync|async] [--pairs 6] [--seconds 6] [--warmup 2] [--workers N] [--rate EVENTS_PER_S]
//        [--shape plain|hunt]   (hunt: events for examples/treasure-hunt.routes.json; set HUNT_ROUTES with --env-a/--env-b)
//        [--token TOKEN]        (the load's connections present it, for settings with credentials)
//
// In a setting's value `{run}` becomes the run's number, for what must be new in every run (a
// cluster-mode engine's Kafka topic and group: its data directory is new in every run).
//
// DIR_A / DIR_B: checkouts whose dist/ holds a built engine (e.g. a git worktree of the release);
// the same directory twice compares two settings. The load generator is this checkout's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess } from './engine-process.js';
import { runLoad, standardLoad } from './load-generator.js';
import { median } from './report.js';
import type { EventShape } from './event-shapes.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const envList = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split(',')
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );

const sides = {
  A: { dir: path.resolve(flag('a', '.')), env: envList(flag('env-a', '')) },
  B: { dir: path.resolve(flag('b', '.')), env: envList(flag('env-b', '')) },
};
const durability = flag('durability', 'sync');
const pairs = Number(flag('pairs', '6'));
const seconds = Number(flag('seconds', '6'));
const warmup = Number(flag('warmup', '2'));
const workers = flag('workers', '');
/** Offered load, events/s; 0: as fast as the engine acks (the window bounds it). */
const rate = Number(flag('rate', '0'));
const shapeFlag = flag('shape', 'plain');
if (shapeFlag !== 'plain' && shapeFlag !== 'hunt') throw new Error(`--shape ${shapeFlag}: expected plain or hunt`);
const shape: EventShape = shapeFlag;
const token = flag('token', '');

interface Run {
  eventsPerSecond: number;
  cpuUsPerEvent: number;
  p50: number;
  p99: number;
}

let runNumber = 0;

async function runOnce(side: keyof typeof sides): Promise<Run> {
  const { dir } = sides[side];
  const run = String(runNumber++);
  const env = Object.fromEntries(Object.entries(sides[side].env).map(([name, value]) => [name, value.replaceAll('{run}', run)]));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-ab-'));
  const entry = path.join(dir, 'dist/src/main/index.js');
  const engine = await startServerProcess([entry], { HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: durability, HUNT_LOG_LEVEL: 'info', ...(workers === '' ? {} : { HUNT_WORKERS: workers }), ...env });
  let cpuBefore = 0;
  try {
    const load = standardLoad(engine.port, seconds, warmup);
    if (token !== '') load.url += `?token=${encodeURIComponent(token)}`;
    const result = await runLoad({ ...load, shape, targetEventsPerSecond: rate, onMeasuring: () => (cpuBefore = engine.cpuMicros()) });
    const cpu = engine.cpuMicros() - cpuBefore;
    return { eventsPerSecond: result.eventsPerSecond, cpuUsPerEvent: cpu / result.ackedEvents, p50: result.latencyMs.p50, p99: result.latencyMs.p99 };
  } finally {
    await engine.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const runs: Record<keyof typeof sides, Run[]> = { A: [], B: [] };
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
for (let pair = 0; pair < pairs; pair++) {
  const order: (keyof typeof sides)[] = pair % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
  for (const side of order) {
    const run = await runOnce(side);
    runs[side].push(run);
    process.stderr.write(`pair ${pair + 1} ${side}: ${fmt(run.eventsPerSecond)} events/s, ${fmt(run.cpuUsPerEvent, 2)} µs/event, p50 ${fmt(run.p50, 1)} p99 ${fmt(run.p99, 1)} ms\n`);
  }
}

const ratios = (pick: (run: Run) => number) => runs.B.map((b, i) => pick(b) / pick(runs.A[i]!)).sort((x, y) => x - y);
const describe = (side: keyof typeof sides) => {
  const r = runs[side];
  return `${side} (${sides[side].dir}${Object.keys(sides[side].env).length > 0 ? ` ${JSON.stringify(sides[side].env)}` : ''}): median ${fmt(median(r.map((x) => x.eventsPerSecond)))} events/s, ${fmt(median(r.map((x) => x.cpuUsPerEvent)), 2)} µs CPU/event, p50 ${fmt(median(r.map((x) => x.p50)), 1)} ms, p99 ${fmt(median(r.map((x) => x.p99)), 1)} ms`;
};
const spread = (values: number[]) => `median ${fmt(median(values), 3)} (range ${fmt(values[0]!, 3)}–${fmt(values.at(-1)!, 3)})`;
console.log(
  [
    `# A/B, ${durability}${shape === 'hunt' ? ', hunt events' : ''}${rate > 0 ? ` at ${fmt(rate)} events/s offered` : ''}, ${pairs} interleaved pairs of ${seconds} s (after ${warmup} s) on ${os.hostname()} (${os.availableParallelism()} cores)`,
    describe('A'),
    describe('B'),
    `B ÷ A per pair: events/s ${spread(ratios((r) => r.eventsPerSecond))}; CPU per event ${spread(ratios((r) => r.cpuUsPerEvent))}; p99 ${spread(ratios((r) => r.p99))}`,
  ].join('\n'),
);
