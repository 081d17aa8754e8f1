// Scaling: events/s and per-thread CPU per event over acceptors × workers × stores, for several
// workloads, and a model of a larger host fitted to those costs (scaling-model.ts), checked against
// every configuration measured here.
//
//   node dist/native-bench/scaling.js [--scenarios async,sync,async-1m,routed] [--acceptors 1,2]
//        [--workers 1,2,4] [--stores 1,4,16] [--also 1x8x16,1x16x16,4x2x16] [--partitions 64] [--seconds 6] [--warmup 2]
//        [--cores 16,64] [--nic-gbit 25] [--connection-skew 1.20,1.31]
//
// Per-thread CPU comes from /proc/<pid>/task (user and kernel time); the engine logs each acceptor's
// and worker's OS thread id at start. Time inside LMDB write transactions and records that met a
// full ring come from the engine's metrics. Runs are interleaved over scenarios (one configuration,
// every scenario, the next configuration), so a slow phase of the VM does not fall on one scenario.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { cpuTotal, engineThreadsOf, metricSum, splitThreadCpu, startEngineProcess, threadCpuOf } from './engine-process.js';
import { benchEvent, type EventShape } from './event-shapes.js';
import { runLoad, standardLoad } from './load-generator.js';
import { scalingSvg, median } from './report.js';
import { activeWorkers, fitCosts, layoutSkew, predictHost, predictMeasured, type MeasuredCosts } from './scaling-model.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const list = (name: string, fallback: string) => flag(name, fallback).split(',').map(Number);

interface Scenario {
  durability: 'sync' | 'async';
  keys: number;
  shape: EventShape;
  env: Record<string, string>;
}
const ROUTES_FILE = fileURLToPath(new URL('../../examples/treasure-hunt.routes.json', import.meta.url));
const SCENARIOS: Record<string, Scenario> = {
  async: { durability: 'async', keys: 10_000, shape: 'plain', env: {} },
  sync: { durability: 'sync', keys: 10_000, shape: 'plain', env: {} },
  'async-1m': { durability: 'async', keys: 1_000_000, shape: 'plain', env: {} },
  routed: { durability: 'async', keys: 10_000, shape: 'hunt', env: { HUNT_ROUTES: ROUTES_FILE } },
};
const scenarioNames = flag('scenarios', 'async,sync,async-1m,routed').split(',');
for (const name of scenarioNames) if (!(name in SCENARIOS)) throw new Error(`--scenarios: unknown ${name}; expected ${Object.keys(SCENARIOS).join(', ')}`);
const acceptorCounts = list('acceptors', '1,2');
const workerCounts = list('workers', '1,2,4');
const storeCounts = list('stores', '1,4,16');
/**
 * Configurations (A×W×S) measured beside the grid: many workers, so that a pub touches up to 16
 * rings and the acceptors' cost per ring shows; and 4 acceptors, to check that a worker's cost does
 * not grow with the rings it drains.
 */
const extraConfigs = flag('also', '1x8x16,1x16x16,4x2x16')
  .split(',')
  .filter((text) => text !== '')
  .map((text) => {
    const [acceptors, workers, stores] = text.split('x').map(Number);
    if (![acceptors, workers, stores].every((n) => Number.isInteger(n) && n! > 0)) throw new Error(`--also ${text}: expected A×W×S, e.g. 1x8x16`);
    return { acceptors: acceptors!, workers: workers!, stores: stores! };
  });
const partitions = Number(flag('partitions', '64'));
const seconds = Number(flag('seconds', '6'));
const warmup = Number(flag('warmup', '2'));
const coreCounts = list('cores', '16,64');
const nicBytesPerSecond = (Number(flag('nic-gbit', '25')) * 1e9) / 8;
/**
 * Per host of --cores: the busiest acceptor's connections ÷ the even share, as the kernel spreads
 * 32 connections per acceptor over the model's acceptor count (native-bench/reuseport-spread.ts:
 * 128 over 4 and 512 over 16, medians of the busiest).
 */
const connectionSkews = list('connection-skew', '1.20,1.31');
if (connectionSkews.length !== coreCounts.length) throw new Error('--connection-skew: give one figure per --cores entry');
const hostCores = os.availableParallelism();

interface Row extends MeasuredCosts {
  scenario: string;
  p99: number;
  /** Records that met a full ring, as a share of all. */
  backloggedShare: number;
  eventsPerBatch: number;
}

async function measure(scenario: string, acceptors: number, workers: number, stores: number): Promise<Row> {
  const { durability, keys, shape, env } = SCENARIOS[scenario]!;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-scaling-'));
  const engine = await startEngineProcess({
    HUNT_DATA_DIR: dataDir,
    HUNT_DURABILITY: durability,
    HUNT_ACCEPTORS: String(acceptors),
    HUNT_WORKERS: String(workers),
    HUNT_STORES: String(stores),
    HUNT_PARTITIONS: String(partitions),
    HUNT_LOG_LEVEL: 'info',
    ...env,
  });
  try {
    const threads = await engineThreadsOf(engine);
    let before = threadCpuOf(engine.pid);
    const load = await runLoad({ ...standardLoad(engine.port, seconds, warmup), keys, shape, onMeasuring: () => (before = threadCpuOf(engine.pid)) });
    const spent = splitThreadCpu(engine.pid, threads, before, threadCpuOf(engine.pid));
    const metrics = await (await fetch(`http://127.0.0.1:${engine.port}/metrics`)).text();
    const events = load.ackedEvents;
    const perEvent = (us: number) => us / events;
    const skew = (cpu: number[]) => {
      const busy = cpu.filter((us) => us > 0);
      return busy.length === 0 ? 1 : Math.max(...busy) / (busy.reduce((s, us) => s + us, 0) / busy.length);
    };
    const committedEvents = metricSum(metrics, 'hunt_commit_batch_events_sum');
    return {
      scenario,
      durability,
      acceptors,
      workers,
      stores,
      partitions,
      batch: standardLoad(0, 0, 0).batch,
      eventsPerSecond: load.eventsPerSecond,
      p99: load.latencyMs.p99,
      acceptorUs: perEvent(cpuTotal(spent.acceptors)),
      acceptorSystemUs: perEvent(spent.acceptors.reduce((s, t) => s + t.system, 0)),
      acceptorSkew: skew(spent.acceptors.map((t) => cpuTotal(t))),
      workerUs: perEvent(cpuTotal(spent.workers)),
      workerSkew: skew(spent.workers.slice(0, activeWorkers(workers, stores)).map((t) => cpuTotal(t))),
      otherUs: perEvent(cpuTotal([spent.control, spent.other])),
      generatorUs: load.generatorCpuUsPerEvent,
      generatorSystemUs: load.generatorSystemUsPerEvent,
      commitUs: (metricSum(metrics, 'hunt_commit_seconds_sum') * 1e6) / committedEvents,
      backloggedShare: metricSum(metrics, 'hunt_backlogged_records_total') / committedEvents,
      eventsPerBatch: committedEvents / metricSum(metrics, 'hunt_commit_batch_events_count'),
    };
  } finally {
    await engine.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const configs = [...storeCounts.flatMap((stores) => workerCounts.flatMap((workers) => acceptorCounts.map((acceptors) => ({ acceptors, workers, stores })))), ...extraConfigs];
const rows: Row[] = [];
for (const { acceptors, workers, stores } of configs) {
  for (const scenario of scenarioNames) {
    const row = await measure(scenario, acceptors, workers, stores);
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}

/** Wire bytes per event: the pub frame's share, TCP/IP headers per 1,448-byte segment, the ack's share. */
function wireBytesPerEvent(shape: EventShape): number {
  const batch = standardLoad(0, 0, 0).batch;
  const events = Array.from({ length: batch }, (_, i) => benchEvent(shape, `player:${i * 7919}`, i * 7919, i));
  const frame = new Packr({ useRecords: false }).pack({ op: 'pub', id: 1 << 30, events }).length + 14;
  const ack = 40;
  return ((frame + ack) * (1 + 52 / 1448)) / batch;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const lines: string[] = [`# Scaling on ${os.hostname()} (${hostCores} cores shared with the load generator), ${new Date().toISOString().slice(0, 10)}`, ''];
lines.push(
  `${seconds} s measured after ${warmup} s, C = 8 connections, 100-event pubs, window 64, HUNT_PARTITIONS = ${partitions}. CPU in µs per acked event; ` +
    '"busiest ÷ mean": the busiest thread of the kind against the mean (workers without a store left out); "full ring": records that found their ring full and waited in memory; ' +
    '"predicted": the model from this row\'s own costs (this host\'s cores shared with the generator), and what limits it.',
  '',
);
const svgRows: { workers: number; series: string; eventsPerSecond: number }[] = [];
for (const scenario of scenarioNames) {
  const measured = rows.filter((r) => r.scenario === scenario);
  const predictions = measured.map((r) => predictMeasured(r, hostCores));
  const ratios = measured.map((r, i) => predictions[i]!.eventsPerSecond / r.eventsPerSecond);
  const { durability, keys, shape } = SCENARIOS[scenario]!;
  lines.push(`## ${scenario}: ${durability}, K = ${fmt(keys)}${shape === 'hunt' ? ', hunt events through examples/treasure-hunt.routes.json (each fans out to 3 keys)' : ''}`, '');
  lines.push(
    '| A | W | S | events/s | p99 ms | acceptors µs (kernel) | busiest ÷ mean | workers µs | busiest ÷ mean | other µs | commit to durable µs | events per commit | full ring | predicted (limit) | predicted ÷ measured |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  measured.forEach((r, i) => {
    const p = predictions[i]!;
    lines.push(
      `| ${r.acceptors} | ${r.workers} | ${r.stores} | ${fmt(r.eventsPerSecond)} | ${fmt(r.p99, 1)} | ${fmt(r.acceptorUs, 2)} (${fmt(r.acceptorSystemUs, 2)}) | ${fmt(r.acceptorSkew, 2)} | ${fmt(r.workerUs, 2)} | ${fmt(r.workerSkew, 2)} | ${fmt(r.otherUs, 2)} | ${fmt(r.commitUs, 2)} | ${fmt(r.eventsPerBatch)} | ${fmt(100 * r.backloggedShare, 1)}% | ${fmt(p.eventsPerSecond)} (${p.limit}) | ${fmt(ratios[i]!, 2)} |`,
    );
    if (r.stores === Math.max(...storeCounts) && r.acceptors <= Math.max(...acceptorCounts)) svgRows.push({ workers: r.workers, series: `${scenario}, A = ${r.acceptors}`, eventsPerSecond: r.eventsPerSecond });
  });
  // Fitted over every row; a worker without a store gets no records, so only active workers count as rings.
  const fitted = fitCosts(measured);
  const wire = wireBytesPerEvent(shape);
  lines.push(
    '',
    `Predicted ÷ measured: median ${fmt(median(ratios), 2)}, range ${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}. ` +
      `Fitted costs: an acceptor ${fmt(fitted.fit.acceptorFixed, 3)} µs per event + ${fmt(fitted.fit.acceptorPerRing, 3)} µs per ring a pub touches (per event: × W(1 − (1 − 1/W)^100)/100); ` +
      `a worker ${fmt(fitted.workerUs, 3)} µs per event (the median row); other threads ${fmt(fitted.otherUs, 3)} µs; ` +
      `receive work the generator's kernel did on loopback, charged to the acceptors off loopback: ${fmt(fitted.receiveUs, 3)} µs; ${durability === 'sync' ? `commit to durable (with the fsync, which overlaps the next batch's merge): ${fmt(fitted.commitUs, 3)} µs per event; ` : ''}` +
      `Wire: ${fmt(wire, 1)} bytes per event.`,
    '',
    `Predicted for larger hosts (one core left to control, GC helpers and interrupts; HUNT_STORES = HUNT_WORKERS and HUNT_PARTITIONS a multiple of it; ` +
      `the busiest acceptor ${connectionSkews.join(' and ')}× its share; ${fmt((nicBytesPerSecond * 8) / 1e9)} Gbit/s NIC). "Expected" divides by the median predicted ÷ measured above, ` +
      '"worst" by the largest: the model assumes the limiting threads busy all the time, which they were not here:',
    '',
    '| cores | acceptors | workers | predicted events/s | expected | worst | limited by | acceptors’ capacity | workers’ | cores’ | NIC’s |',
    '|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|',
  );
  for (const [i, cores] of coreCounts.entries()) {
    const p = predictHost(fitted, { cores, reservedCores: 1, nicBytesPerSecond, wireBytesPerEvent: wire, connectionSkew: connectionSkews[i]! });
    lines.push(
      `| ${cores} | ${p.acceptors} | ${p.workers} | ${fmt(p.eventsPerSecond)} | ${fmt(p.eventsPerSecond / Math.max(1, median(ratios)))} | ${fmt(p.eventsPerSecond / Math.max(1, ...ratios))} | ${p.limit} | ${fmt(p.capacities.acceptors)} | ${fmt(p.capacities.workers)} | ${fmt(p.capacities.cores)} | ${fmt(p.capacities.NIC)} |`,
    );
  }
  lines.push('');
}
lines.push(
  `Layout skew, for reference: with ${partitions} partitions the busiest worker's share ÷ the mean is ` +
    [[3, 3], [12, 12], [48, 48]].map(([w, s]) => `${fmt(layoutSkew({ partitions, stores: s! }, w!), 2)} at W = S = ${w}`).join(', ') +
    ' (a partition count that is a multiple of the stores gives 1.00).',
);
console.log(lines.join('\n'));

const resultsDir = fileURLToPath(new URL('../../native-bench/results/', import.meta.url));
fs.mkdirSync(resultsDir, { recursive: true });
const stem = path.join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${os.hostname()}-scaling`);
fs.writeFileSync(`${stem}.json`, JSON.stringify(rows, null, 1));
fs.writeFileSync(`${stem}.svg`, scalingSvg(svgRows, `events/s over HUNT_WORKERS (S = ${Math.max(...storeCounts)}), measured on ${os.hostname()} (${hostCores} cores)`));
fs.writeFileSync(`${stem}.md`, `${lines.join('\n')}\n\n![events/s over workers](${path.basename(stem)}.svg)\n`);
console.log(`\nresults: ${path.relative(process.cwd(), stem)}.{md,json,svg}`);
