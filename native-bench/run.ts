// `npm run bench [-- --preset quick|full] [--seconds N] [--repeat N] [--only 'NAME-PART[|=EXACT NAME…]'] [--install-peers]`
//
// Starts each server as its own process, drives it with the load generator over real WebSockets,
// and reports events/s acknowledged, ack latency (HDR), the server's CPU time per event (from
// /proc, all its threads) and peak RSS. Every figure is the median of the repeats; ratios are
// against the naive single-threaded baseline measured in the same run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEngineProcess, startServerProcess, type EngineProcess } from './engine-process.js';
import { runAbusiveClient } from './abusive-client.js';
import { mergeHistograms, runLoad, type LoadOptions } from './load-generator.js';
import { openSubscribers, startDeliveryProbe } from './subscribers.js';
import { installPeers, peerUnavailable, startKafkaPeer, startNatsPeer, startRabbitPeer, startRedisPeer } from './peers.js';
import { ceilingLines, chartSvg, figuresTable, median, missedTargets, targetLines, type ScenarioFigures } from './report.js';
import { measureCeilings } from './ceilings.js';
import type { PubsQueueType } from './rabbitmq-queues.js';
import { profileEngine, profileLines } from './profile.js';

interface Scenario {
  name: string;
  /** engine; naive: ws + lmdb-js in one thread; uws-ceiling: bare uWS that reads each pub's id and acks; redis: ws + redis-server. */
  server: 'engine' | 'naive' | 'uws-ceiling' | 'redis' | 'rabbitmq' | 'nats' | 'kafka';
  /** rabbitmq, nats, kafka: consumer processes, the front end splitting pubs between them by key (default 1). */
  consumers?: number;
  /** rabbitmq: the pubs queue's type (default classic). */
  queueType?: PubsQueueType;
  /** redis: the AOF's appendfsync (durability then says which engine mode it is compared with). */
  appendfsync?: 'everysec' | 'always';
  durability: 'sync' | 'async';
  keys: number;
  skew: number;
  /** Fraction of a named scenario's median rate to offer (for latency at partial load). */
  rateOf?: { scenario: string; fraction: number };
  /** A fixed rate to offer, events/s (every system at the same load, for comparing latency). */
  rate?: number;
  /** Run a flooding producer and a client that never reads next to the measured load. */
  abusers?: boolean;
  /** Extra engine settings for the scenario. */
  env?: Record<string, string>;
  /** The load presents a HUNT_AUTH_FILE token whose pub scope is SCOPED_PUB (else no credentials). */
  scopedToken?: boolean;
  /** Subscriber connections, each on one key of the workload, reading their updates. */
  subscribers?: number;
  /** Treasure-hunt shaped events; with `routes`, the engine runs examples/treasure-hunt.routes.json. */
  hunt?: { routes: boolean };
  /** Left out of the quick preset (which keeps what the targets are stated in). */
  fullOnly?: boolean;
}

interface Figures extends ScenarioFigures {
  generatorCpuUsPerEvent: number;
}

/** One run's figures and its latency histogram (merged with the other runs', then dropped). */
interface Run extends Figures {
  histogram: string;
}

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const preset = flag('preset', 'full');
const seconds = Number(flag('seconds', preset === 'quick' ? '3' : '10'));
const repeat = Number(flag('repeat', preset === 'quick' ? '1' : '3'));
const connections = Number(flag('connections', '8'));
const batch = Number(flag('batch', '100'));
const window = Number(flag('window', '64'));
const warmupMs = Number(flag('warmup', preset === 'quick' ? '1' : '2')) * 1000;
const only = flag('only', '');

const HUNT_ROUTES_FILE = fileURLToPath(new URL('../../examples/treasure-hunt.routes.json', import.meta.url));

/** The offered load of the same-load latency comparison, events/s (below every peer's peak here). */
const SAME_LOAD = 60_000;

/** The scoped-token scenario's token and its pub prefixes: the bench's keys are `player:…`, the last. */
const SCOPED_TOKEN = 'bench-scoped-token-0123456789';
const SCOPED_PUB = ['hunt:', 'zone:', 'clue:', 'player:'];
const tokenFileOf = (dataDir: string) => `${dataDir}.tokens.jsonl`;

/** The scenario every ratio is taken against. */
const BASELINE = 'naive ws+lmdb, sync';

const SCENARIOS: Scenario[] = [
  { name: BASELINE, server: 'naive', durability: 'sync', keys: 10_000, skew: 0 },
  { name: 'engine, sync', server: 'engine', durability: 'sync', keys: 10_000, skew: 0 },
  { name: 'engine, async', server: 'engine', durability: 'async', keys: 10_000, skew: 0 },
  { name: 'engine, sync, a pub token of 4 prefixes', server: 'engine', durability: 'sync', keys: 10_000, skew: 0, scopedToken: true, fullOnly: true },
  { name: 'engine, sync, half of peak rate', server: 'engine', durability: 'sync', keys: 10_000, skew: 0, rateOf: { scenario: 'engine, sync', fraction: 0.5 }, fullOnly: true },
  { name: 'engine, async, metrics off', server: 'engine', durability: 'async', keys: 10_000, skew: 0, env: { HUNT_METRICS: 'off' }, fullOnly: true },
  { name: 'engine, async, event log on (100,000 per partition)', server: 'engine', durability: 'async', keys: 10_000, skew: 0, env: { HUNT_LOG_RETENTION_EVENTS: '100000' }, fullOnly: true },
  { name: 'engine, async, 1,000 subscribers', server: 'engine', durability: 'async', keys: 10_000, skew: 0, subscribers: 1000, fullOnly: true },
  { name: 'engine, async, 1,000 subscribers, half of peak rate', server: 'engine', durability: 'async', keys: 10_000, skew: 0, subscribers: 1000, rateOf: { scenario: 'engine, async, 1,000 subscribers', fraction: 0.5 }, fullOnly: true },
  { name: 'engine, async, beside a flooder and a non-reader', server: 'engine', durability: 'async', keys: 10_000, skew: 0, abusers: true, fullOnly: true },
  { name: 'engine, async, hunt events, default merge', server: 'engine', durability: 'async', keys: 10_000, skew: 0, hunt: { routes: false } },
  { name: 'engine, async, hunt events, treasure-hunt routes', server: 'engine', durability: 'async', keys: 10_000, skew: 0, hunt: { routes: true } },
  { name: 'engine, async, skewed keys (zipf 1.0)', server: 'engine', durability: 'async', keys: 10_000, skew: 1, fullOnly: true },
  { name: 'engine, async, K=1M', server: 'engine', durability: 'async', keys: 1_000_000, skew: 0, fullOnly: true },
  { name: 'engine, sync, K=1M', server: 'engine', durability: 'sync', keys: 1_000_000, skew: 0, fullOnly: true },
  { name: 'naive ws+lmdb, async', server: 'naive', durability: 'async', keys: 10_000, skew: 0, fullOnly: true },
  { name: 'uWS read-id+ack ceiling', server: 'uws-ceiling', durability: 'async', keys: 10_000, skew: 0 },
  { name: 'ws + Redis, AOF everysec', server: 'redis', appendfsync: 'everysec', durability: 'async', keys: 10_000, skew: 0 },
  { name: 'ws + Redis, AOF always', server: 'redis', appendfsync: 'always', durability: 'sync', keys: 10_000, skew: 0 },
  { name: 'ws + RabbitMQ + consumer', server: 'rabbitmq', durability: 'sync', keys: 10_000, skew: 0 },
  { name: 'ws + RabbitMQ (quorum queue) + consumer', server: 'rabbitmq', durability: 'sync', keys: 10_000, skew: 0, queueType: 'quorum', fullOnly: true },
  { name: 'ws + NATS JetStream + consumer', server: 'nats', durability: 'sync', keys: 10_000, skew: 0 },
  { name: 'ws + Kafka + consumer', server: 'kafka', durability: 'sync', keys: 10_000, skew: 0 },
  // Two consumers split by key, as an operator scales a consumer out; on 2 cores shared with the
  // front end, the broker and the load, the single consumer is the faster, so it is the headline.
  { name: 'ws + RabbitMQ + 2 consumers split by key', server: 'rabbitmq', durability: 'sync', keys: 10_000, skew: 0, consumers: 2, fullOnly: true },
  { name: 'ws + NATS JetStream + 2 consumers split by key', server: 'nats', durability: 'sync', keys: 10_000, skew: 0, consumers: 2, fullOnly: true },
  { name: 'ws + Kafka + 2 consumers split by key', server: 'kafka', durability: 'sync', keys: 10_000, skew: 0, consumers: 2, fullOnly: true },
  // Every system at the same offered load, below what the slowest sustains: the p99s compare.
  { name: 'at 60k/s: engine, sync', server: 'engine', durability: 'sync', keys: 10_000, skew: 0, rate: SAME_LOAD },
  { name: 'at 60k/s: naive ws+lmdb, sync', server: 'naive', durability: 'sync', keys: 10_000, skew: 0, rate: SAME_LOAD },
  { name: 'at 60k/s: ws + Redis, AOF always', server: 'redis', appendfsync: 'always', durability: 'sync', keys: 10_000, skew: 0, rate: SAME_LOAD },
  { name: 'at 60k/s: ws + RabbitMQ + consumer', server: 'rabbitmq', durability: 'sync', keys: 10_000, skew: 0, rate: SAME_LOAD },
  { name: 'at 60k/s: ws + NATS JetStream + consumer', server: 'nats', durability: 'sync', keys: 10_000, skew: 0, rate: SAME_LOAD },
  { name: 'at 60k/s: ws + Kafka + consumer', server: 'kafka', durability: 'sync', keys: 10_000, skew: 0, rate: SAME_LOAD },
];

/** Debian packages of the peers, installed with --install-peers. */
const PEER_PACKAGES: Partial<Record<Scenario['server'], { binary: string; package: string }>> = {
  redis: { binary: 'redis-server', package: 'redis-server' },
  rabbitmq: { binary: '/usr/lib/rabbitmq/bin/rabbitmq-server', package: 'rabbitmq-server' },
  nats: { binary: 'nats-server', package: 'nats-server' },
  // Kafka's jars come from Maven Central through mvn (kafka-cluster.ts); Debian's maven brings a JDK.
  kafka: { binary: 'mvn', package: 'maven' },
};

/** The scenario's engine settings beyond data dir and durability. */
function engineEnv(scenario: Scenario): Record<string, string> {
  return { ...(scenario.hunt?.routes ? { HUNT_ROUTES: HUNT_ROUTES_FILE } : {}), ...scenario.env };
}

async function startServer(scenario: Scenario, dataDir: string): Promise<EngineProcess> {
  if (scenario.server === 'engine') {
    if (scenario.scopedToken) fs.writeFileSync(tokenFileOf(dataDir), `${JSON.stringify({ name: 'bench', token: SCOPED_TOKEN, pub: SCOPED_PUB })}\n`);
    return startEngineProcess({ HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: scenario.durability, HUNT_LOG_LEVEL: 'info', ...(scenario.scopedToken ? { HUNT_AUTH_FILE: tokenFileOf(dataDir) } : {}), ...engineEnv(scenario) });
  }
  if (scenario.server === 'redis') return startRedisPeer(dataDir, scenario.appendfsync!);
  if (scenario.server === 'rabbitmq') return startRabbitPeer(dataDir, scenario.durability, scenario.consumers ?? 1, scenario.queueType);
  if (scenario.server === 'nats') return startNatsPeer(dataDir, scenario.durability, scenario.consumers ?? 1);
  if (scenario.server === 'kafka') return startKafkaPeer(dataDir, scenario.durability, scenario.consumers ?? 1);
  if (scenario.server === 'uws-ceiling') return startServerProcess([fileURLToPath(new URL('./uws-ceiling-server.js', import.meta.url))], {});
  const entry = fileURLToPath(new URL('./naive-server.js', import.meta.url));
  return startServerProcess([entry, dataDir, scenario.durability], {});
}

async function runOnce(scenario: Scenario, targetEventsPerSecond: number): Promise<Run> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-bench-'));
  const server = await startServer(scenario, dataDir);
  try {
    const load: LoadOptions = {
      url: `ws://127.0.0.1:${server.port}/v1/stream${scenario.scopedToken ? `?token=${SCOPED_TOKEN}` : ''}`,
      connections,
      batch,
      keys: scenario.keys,
      skew: scenario.skew,
      window,
      durationMs: seconds * 1000,
      targetEventsPerSecond,
      threads: 1,
      keyPrefix: 'player:',
      shape: scenario.hunt ? 'hunt' : 'plain',
      warmupMs,
      onMeasuring: () => {
        cpu0 = server.cpuMicros();
        probe?.reset();
      },
    };
    const subscribers = scenario.subscribers ? await openSubscribers(load.url, scenario.subscribers, load.keyPrefix) : null;
    const probe = scenario.subscribers ? await startDeliveryProbe(load.url) : null;
    let cpu0 = server.cpuMicros();
    const abuse = scenario.abusers
      ? Promise.all([runAbusiveClient(load.url, warmupMs + seconds * 1000, 50), runAbusiveClient(load.url, warmupMs + seconds * 1000, 5)])
      : null;
    const result = await runLoad(load);
    await abuse;
    const delivery = (await probe?.stop()) ?? { p50: NaN, p99: NaN, samples: 0 };
    if (subscribers !== null) {
      console.log(`  ${scenario.subscribers} subscribers received ${subscribers.updates()} updates; delivery p50 ${delivery.p50.toFixed(1)} ms, p99 ${delivery.p99.toFixed(1)} ms (${delivery.samples} probes)`);
      await subscribers.close();
    }
    const cpu = server.cpuMicros() - cpu0;
    return {
      eventsPerSecond: result.eventsPerSecond,
      p50: result.latencyMs.p50,
      p99: result.latencyMs.p99,
      p999: result.latencyMs.p999,
      cpuUsPerEvent: cpu / result.ackedEvents,
      peakRssMiB: server.peakRssBytes() / 2 ** 20,
      generatorCpuUsPerEvent: result.generatorCpuUsPerEvent,
      errors: Object.values(result.errors).reduce((a, b) => a + b, 0),
      deliveryP50: delivery.p50,
      deliveryP99: delivery.p99,
      histogram: result.histogram,
    };
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(tokenFileOf(dataDir), { force: true });
  }
}

const machine = {
  host: os.hostname(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  kernel: os.release(),
  node: process.version,
};
const settings = { preset, only, seconds, warmupSeconds: warmupMs / 1000, repeat, connections, batch, window, workers: 'engine default', loadThreads: 1 };
console.log(`# native-bench ${new Date().toISOString()}\n${JSON.stringify({ machine, settings })}`);

// --only keeps the scenarios whose name contains it, or one of its |-separated parts; a part
// starting with = names one scenario exactly (and the baseline is kept, for the ratios).
const selected = (s: Scenario) => only === '' || only.split('|').some((part) => (part.startsWith('=') ? s.name === part.slice(1) : s.name.includes(part)));
// The quick preset keeps the scenarios the targets are stated in, unless --only names others.
const chosen = (s: Scenario) => (only === '' && preset === 'quick' ? !s.fullOnly : selected(s));
const scenarios = SCENARIOS.filter(
  (s) => chosen(s) || s.name === BASELINE || SCENARIOS.some((o) => chosen(o) && o.rateOf?.scenario === s.name),
);
if (args.includes('--install-peers')) {
  const packages = [...new Set(scenarios.flatMap((s) => (PEER_PACKAGES[s.server] === undefined || peerUnavailable(PEER_PACKAGES[s.server]!.binary) === null ? [] : [PEER_PACKAGES[s.server]!.package])))];
  if (packages.length > 0) installPeers(packages);
}
process.stderr.write('ceilings of our parts (in-process)…\n');
const ceilings = await measureCeilings(preset === 'quick' ? 1 : 3);
/** A progress bar on a terminal (one line, redrawn); a line per run otherwise (logs, CI). */
function progress(what: string): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done + 1}/${total} ${what}`.slice(0, process.stderr.columns ?? 200));
  else process.stderr.write(`[${done + 1}/${total}] ${what}\n`);
}
const results: Record<string, Figures & { runs: Figures[] }> = {};
/** Peers that could not run here, with the reason (reported, never silently left out). */
const skipped: Record<string, string> = {};
const runnable = scenarios.filter((scenario) => {
  const peer = PEER_PACKAGES[scenario.server];
  const unavailable = peer === undefined ? null : peerUnavailable(peer.binary);
  if (unavailable !== null) {
    skipped[scenario.name] = unavailable;
    process.stderr.write(`skipped: ${scenario.name}: ${unavailable}\n`);
  }
  return unavailable === null;
});
const total = runnable.length * repeat;
let done = 0;
const started = Date.now();
// Round-robin: each round runs every scenario once, so the VM's slow and fast phases fall on all
// of them alike, and a ratio can be taken per round.
const runsOf = new Map<string, Run[]>(runnable.map((scenario) => [scenario.name, []]));
for (let r = 0; r < repeat; r++) {
  for (const scenario of runnable) {
    // A fraction of another scenario's rate: of its median so far (it runs earlier in each round).
    const target = scenario.rate ?? (scenario.rateOf ? median(runsOf.get(scenario.rateOf.scenario)!.map((run) => run.eventsPerSecond)) * scenario.rateOf.fraction : 0);
    const eta = done === 0 ? '?' : `${Math.round((((Date.now() - started) / done) * (total - done)) / 1000)} s`;
    progress(`${scenario.name} (round ${r + 1}/${repeat}), about ${eta} left`);
    runsOf.get(scenario.name)!.push(await runOnce(scenario, target));
    done++;
  }
}
for (const scenario of runnable) {
  const runs = runsOf.get(scenario.name)!;
  const pick = (f: keyof Figures) => median(runs.map((run) => run[f] as number));
  const latency = mergeHistograms(runs.map((run) => run.histogram));
  results[scenario.name] = {
    eventsPerSecond: pick('eventsPerSecond'),
    p50: latency.getValueAtPercentile(50) / 1000,
    p99: latency.getValueAtPercentile(99) / 1000,
    p999: latency.getValueAtPercentile(99.9) / 1000,
    cpuUsPerEvent: pick('cpuUsPerEvent'),
    peakRssMiB: pick('peakRssMiB'),
    generatorCpuUsPerEvent: pick('generatorCpuUsPerEvent'),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    deliveryP50: pick('deliveryP50'),
    deliveryP99: pick('deliveryP99'),
    runs: runs.map(({ histogram: _, ...figures }) => figures),
  };
}

if (process.stderr.isTTY) process.stderr.write('\n');
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const lines = figuresTable(results, BASELINE);
for (const [name, f] of Object.entries(results)) {
  if (!Number.isNaN(f.deliveryP50)) lines.push('', `Update delivery, publish → subscriber (${name}): p50 ${fmt(f.deliveryP50, 1)} ms, p99 ${fmt(f.deliveryP99, 1)} ms.`);
}
for (const [name, reason] of Object.entries(skipped)) lines.push('', `Skipped: ${name}: ${reason}.`);
const generatorCpu = median(Object.values(results).map((f) => f.generatorCpuUsPerEvent));
lines.push('', `Load generator CPU: median ${fmt(generatorCpu, 2)} µs per acked event (its own process, all threads).`);
lines.push('', '## Ceilings of our parts (same run)', '', ...ceilingLines(ceilings, results));
const targets = targetLines(results, skipped);
lines.push('', '## Targets (ratios from this run)', '', ...targets);
// A missed target: say where the engine's time goes, from a CPU profile of its scenario's load.
for (const name of new Set(missedTargets(results).map((t) => t.engine))) {
  const scenario = SCENARIOS.find((s) => s.name === name)!;
  process.stderr.write(`a target was missed: profiling the engine (${name}) under load…\n`);
  const profiles = await profileEngine({ HUNT_DURABILITY: scenario.durability, ...engineEnv(scenario) }, scenario.hunt ? 'hunt' : 'plain', 5);
  lines.push('', `## Where the engine's time goes (${name}: V8 CPU profile under the bench's load, top functions by self time)`, ...profileLines(profiles));
}
console.log(lines.join('\n'));

const resultsDir = fileURLToPath(new URL('../../native-bench/results/', import.meta.url));
fs.mkdirSync(resultsDir, { recursive: true });
// A run cut down by --only, or the quick preset, does not replace the day's full results.
const variant = only !== '' ? '-partial' : preset === 'quick' ? '-quick' : '';
const stem = path.join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${machine.host}${variant}`);
fs.writeFileSync(`${stem}.json`, `${JSON.stringify({ date: new Date().toISOString(), machine, settings, results, skipped, ceilings }, null, 2)}\n`);
const title = `native-bench ${new Date().toISOString().slice(0, 10)} on ${machine.host} (${machine.cores} cores, ${machine.cpu})`;
fs.writeFileSync(`${stem}.svg`, chartSvg(results, title));
fs.writeFileSync(
  `${stem}.md`,
  [`# ${title}`, '', `Settings: ${JSON.stringify(settings)}. Machine: ${JSON.stringify(machine)}.`, '', `![throughput and p99 per system](${path.basename(stem)}.svg)`, '', ...lines, ''].join('\n'),
);
console.log(`\nresults: ${path.relative(process.cwd(), stem)}.{json,md,svg}`);
