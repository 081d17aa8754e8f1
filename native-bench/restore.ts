// Cluster mode: how long a host takes to restore partitions from the changelog topic. One engine
// host (one worker, one store) writes `--keys` distinct keys through a one-broker Kafka on loopback
// and stops (its changelog then holds every key); a second host with an empty data directory joins
// the group, restores every partition, and reports the restore's time and entries.
//
//   node dist/native-bench/restore.js [--keys 1000000] [--events-per-pub 2000]
import { HuntClient } from '../src/client/hunt-client.js';
import { startEngineProcess, type EngineProcess } from './engine-process.js';
import { startKafkaCluster } from './kafka-cluster.js';
import fs from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import os from 'node:os';
import path from 'node:path';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const keys = option('keys', 1_000_000);
const perPub = option('events-per-pub', 2000);

async function logLine(engine: EngineProcess, msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = engine.output().split('\n').find((l) => l.includes(`"msg":"${msg}"`));
    if (line !== undefined) return JSON.parse(line) as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`no "${msg}" within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const kafka = await startKafkaCluster({ brokers: 1 });
const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-restore-a-')), fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-restore-b-'))];
const env = { HUNT_KAFKA_BROKERS: kafka.bootstrap, HUNT_KAFKA_TOPIC: 'restore', HUNT_KAFKA_GROUP: 'restore', HUNT_DURABILITY: 'async', HUNT_WORKERS: '1', HUNT_ACCEPTORS: '1', HUNT_STORES: '1', HUNT_LOG_LEVEL: 'info' };
try {
  const a = await startEngineProcess({ ...env, HUNT_DATA_DIR: dirs[0]! }, 120_000);
  await logLine(a, 'partitions taken over', 60_000);
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${a.port}/v1/stream`, maxBatchEvents: perPub });
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let k = 0; k < keys; k += perPub) {
    const events = Array.from({ length: Math.min(perPub, keys - k) }, (_, i) => ({ key: `key-${k + i}`, type: 'seen', data: { n: k + i } }));
    pending.push(client.publish(events));
    if (pending.length >= 16) await pending.shift();
  }
  await Promise.all(pending);
  client.close();
  const written = (performance.now() - started) / 1000;
  // Acked means in Kafka; applied once the last pub's keys (in every partition) are there.
  const last = Array.from({ length: Math.min(perPub, keys) }, (_, i) => `key-${keys - 1 - i}`);
  for (;;) {
    const found = await Promise.all(last.slice(0, 200).map(async (key) => (await fetch(`http://127.0.0.1:${a.port}/v1/keys/${key}`)).status === 200));
    if (found.every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const applied = (performance.now() - started) / 1000;
  // The changelog has caught up once its committed positions reach the events topic's end everywhere.
  const admin = new Kafka({ clientId: 'restore-bench', brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(env.HUNT_KAFKA_TOPIC)).map((o) => [o.partition, Number(o.high)]));
  for (;;) {
    const [committed] = await admin.fetchOffsets({ groupId: `${env.HUNT_KAFKA_GROUP}.changelog`, topics: [env.HUNT_KAFKA_TOPIC] });
    if ((committed?.partitions ?? []).every((p) => Number(p.offset) >= ends.get(p.partition)! || ends.get(p.partition) === 0)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await admin.disconnect();
  const logged = (performance.now() - started) / 1000;
  await a.stop();
  console.log(`host A: ${keys} keys acked in ${written.toFixed(1)} s, applied in ${applied.toFixed(1)} s, in the changelog in ${logged.toFixed(1)} s; stopped`);

  const bStarted = performance.now();
  const b = await startEngineProcess({ ...env, HUNT_DATA_DIR: dirs[1]! }, 120_000);
  const restored = await logLine(b, 'partitions restored from the changelog', 600_000);
  await logLine(b, 'partitions taken over', 60_000);
  const total = (performance.now() - bStarted) / 1000;
  console.log(`host B: restored ${restored.entries} changelog entries of ${(restored.partitions as number[]).length} partitions in ${((restored.ms as number) / 1000).toFixed(1)} s (read and written to LMDB, restore group join included); ${total.toFixed(1)} s from its start to applying`);
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), broker on the same cores`);
  await b.stop();
} finally {
  await kafka.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}
