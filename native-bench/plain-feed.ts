// Cluster mode: how fast a host applies events that Kafka producers outside the engine wrote to the
// events topic (one JSON event per message), against the same events written by an engine host
// (its batches of records), measured the same way in the same run. For each kind, a topic is
// filled with `--events` events over `--keys` keys while no host applies it; then a fresh host
// (an empty data directory) starts, and its rate from the first event applied to the last (the
// group join and first fetches left out), with the host's CPU meanwhile, is the kind's apply rate.
// Rounds alternate the kinds (ABBA).
//
//   node dist/native-bench/plain-feed.js [--events 1000000] [--keys 10000] [--rounds 2]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { HuntClient } from '../src/client/hunt-client.js';
import { partitionOf } from '../src/shared/partition.js';
import { startEngineProcess, type EngineProcess } from './engine-process.js';
import { startKafkaCluster } from './kafka-cluster.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const events = option('events', 1_000_000);
const keys = option('keys', 10_000);
const rounds = option('rounds', 2);
const PARTITIONS = 64;
const event = (i: number) => ({ key: `key-${i % keys}`, type: 'seen', data: { n: i } });

const kafka = await startKafkaCluster({ brokers: 1 });
const client = new Kafka({ clientId: 'plain-feed-bench', brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING });
const admin = client.admin();
await admin.connect();
const dirs: string[] = [];
const env = (topic: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-plain-feed-'));
  dirs.push(dir);
  return { HUNT_KAFKA_BROKERS: kafka.bootstrap, HUNT_KAFKA_TOPIC: topic, HUNT_KAFKA_GROUP: topic, HUNT_DURABILITY: 'async', HUNT_PARTITIONS: String(PARTITIONS), HUNT_WORKERS: '2', HUNT_ACCEPTORS: '1', HUNT_LOG_LEVEL: 'info', HUNT_DATA_DIR: dir };
};

/** Events applied by a host: the sum of its partitions' applied offsets (GET /v1/partitions; a partition numbers its events from 1). */
async function appliedBy(host: EngineProcess): Promise<number> {
  const { partitions } = (await (await fetch(`http://127.0.0.1:${host.port}/v1/partitions`)).json()) as { partitions: { appliedOffset: number }[] };
  return partitions.reduce((n, p) => n + p.appliedOffset, 0);
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Fills `topic` through an engine host (pubs of 1,000 events, acked once Kafka has them). */
async function fillThroughEngine(topic: string): Promise<void> {
  const host = await startEngineProcess(env(topic), 120_000);
  try {
    const hunt = await HuntClient.connect({ url: `ws://127.0.0.1:${host.port}/v1/stream`, maxBatchEvents: 1000 });
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < events; i += 1000) {
      pending.push(hunt.publish(Array.from({ length: Math.min(1000, events - i) }, (_, j) => event(i + j))));
      if (pending.length >= 32) await pending.shift();
    }
    await Promise.all(pending);
    hunt.close();
  } finally {
    await host.stop();
  }
}

/** Fills `topic` with plain messages from a Kafka producer of its own. */
async function fillAsPlain(topic: string): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: false });
  const producer: Producer = client.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let i = 0; i < events; i += 10_000) {
    const messages = Array.from({ length: Math.min(10_000, events - i) }, (_, j) => {
      const { key, ...rest } = event(i + j);
      return { key, value: JSON.stringify(rest), partition: partitionOf(key, PARTITIONS) };
    });
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();
}

/** A fresh host applies all of `topic`: events per second and µs of its CPU per event, from the first event applied to the last. */
async function applyAll(topic: string): Promise<{ rate: number; cpuPerEvent: number }> {
  const host = await startEngineProcess(env(topic), 120_000);
  try {
    let first = 0;
    await until('the host to apply events', async () => (first = await appliedBy(host)) > 0, 120_000, 10);
    const started = performance.now();
    const cpu = host.cpuMicros();
    await until('every event to be applied', async () => (await appliedBy(host)) >= events, 600_000);
    const applied = events - first;
    return { rate: applied / ((performance.now() - started) / 1000), cpuPerEvent: (host.cpuMicros() - cpu) / applied };
  } finally {
    await host.stop();
  }
}

const results: Record<'engine' | 'plain', { rate: number; cpuPerEvent: number }[]> = { engine: [], plain: [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? (['engine', 'plain'] as const) : (['plain', 'engine'] as const)) {
      const topic = `feed-${kind}-${round}`;
      if (kind === 'engine') await fillThroughEngine(topic);
      else await fillAsPlain(topic);
      const { rate, cpuPerEvent } = await applyAll(topic);
      results[kind].push({ rate, cpuPerEvent });
      console.log(`round ${round + 1} ${kind}: ${Math.round(rate).toLocaleString('en-US')} events/s applied, ${cpuPerEvent.toFixed(2)} µs host CPU/event`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ratios = results.plain.map((p, i) => p.rate / results.engine[i]!.rate);
  const cpuRatios = results.plain.map((p, i) => p.cpuPerEvent / results.engine[i]!.cpuPerEvent);
  console.log(`# ${events.toLocaleString('en-US')} events over ${keys.toLocaleString('en-US')} keys, ${PARTITIONS} partitions, 2 workers, async; ${rounds} rounds on ${os.cpus().length} cores (${os.cpus()[0]?.model}), broker on the same cores`);
  console.log(`plain ÷ engine batches: apply rate median ${median(ratios).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')}), CPU per event median ${median(cpuRatios).toFixed(2)} (${cpuRatios.map((r) => r.toFixed(2)).join(', ')})`);
} finally {
  await admin.disconnect();
  await kafka.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}
