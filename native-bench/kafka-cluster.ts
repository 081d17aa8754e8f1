// A real Apache Kafka cluster on loopback for the tests and the bench: 1 or 3 KRaft nodes (each a
// broker and a controller, one controller quorum), distinct ports, node ids and log directories,
// storage formatted, started, waited for until every broker is registered and serves metadata, and
// removed on stop. The broker's jars come from Maven Central (kafka/pom.xml) into kafka/lib.
//
//   npm run kafka -- [--brokers 1|3] [--dir DIR]     starts one, prints its bootstrap servers,
//                                                     stops and removes it on Ctrl-C
//
// Replication is set for the cluster's size: with 3 brokers topics default to 3 replicas and at
// least 2 in sync, so an `acks=all` write survives one broker's loss and the cluster keeps
// accepting writes while one broker is down.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from './engine-process.js';

const KAFKA_DIR = fileURLToPath(new URL('../../kafka/', import.meta.url));
const LIB_DIR = path.join(KAFKA_DIR, 'lib');
const BROKER_JAR = 'kafka_2.13-4.4.0.jar';
/** JVM start, log recovery and the controller election take a few seconds each on 2 cores. */
const READY_TIMEOUT_MS = 120_000;

export interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  logDir: string;
  /** The running JVM, or null while the node is down. */
  process: ChildProcess | null;
}

export interface KafkaCluster {
  /** `127.0.0.1:port,…` of every node. */
  bootstrap: string;
  nodes: KafkaNode[];
  /** SIGKILLs node `index` (0-based) and waits for its JVM to exit. */
  kill(index: number): Promise<void>;
  /** Starts a killed node again on its ports and log directory; resolves once it is registered. */
  restart(index: number): Promise<void>;
  /** Stops every node and removes the cluster's directory (unless it was given). */
  stop(): Promise<void>;
}

/** Fetches the broker's jars into kafka/lib once (Maven Central, through `mvn`). */
export function ensureKafkaJars(): void {
  if (fs.existsSync(path.join(LIB_DIR, BROKER_JAR))) return;
  const result = spawnSync('mvn', ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${LIB_DIR}`], { cwd: KAFKA_DIR, encoding: 'utf8' });
  if (result.error !== undefined) throw new Error(`cannot run mvn to fetch Kafka's jars (is Maven installed?): ${result.error.message}`);
  if (result.status !== 0 || !fs.existsSync(path.join(LIB_DIR, BROKER_JAR))) {
    throw new Error(`mvn could not fetch Kafka's jars into ${LIB_DIR} (exit ${result.status}):\n${result.stdout}${result.stderr}`);
  }
}

/**
 * A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what `kafka-storage
 * random-uuid` prints). Like Kafka's own Uuid.randomUuid, never one that starts with '-': the
 * storage tool's argument parser would take it for an option and refuse to format (1 start in 64).
 */
function newClusterId(): string {
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** A node's server.properties; `settings` are added last (a broker setting the caller needs). */
function nodeProperties(node: KafkaNode, nodes: KafkaNode[], settings: Record<string, string>): string {
  const replicas = Math.min(3, nodes.length);
  const minInSync = Math.max(1, replicas - 1);
  return [
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    `controller.quorum.voters=${nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',')}`,
    `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${node.logDir}`,
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minInSync}`,
    `offsets.topic.replication.factor=${replicas}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minInSync}`,
    'num.partitions=1',
    'group.initial.rebalance.delay.ms=0',
    // A killed node's peers notice within seconds, not the default 18 s of missed heartbeats.
    'broker.session.timeout.ms=6000',
    'broker.heartbeat.interval.ms=1000',
    ...Object.entries(settings).map(([name, value]) => `${name}=${value}`),
    '',
  ].join('\n');
}

function runJava(args: string[], logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const child = spawn('java', ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-cp', `${LIB_DIR}/*`, ...args], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function formatStorage(node: KafkaNode, clusterId: string, config: string, logFile: string): Promise<void> {
  const code = await exited(runJava(['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config], logFile));
  if (code !== 0) throw new Error(`formatting Kafka node ${node.id}'s storage failed (exit ${code}); see ${logFile}`);
}

/** Resolves once the cluster's metadata lists `brokers` brokers; rejects naming the logs if it does not in time. */
async function waitForBrokers(bootstrap: string, brokers: number, logs: string, alive: () => void): Promise<void> {
  const admin = new Kafka({ clientId: 'hunt-kafka-cluster', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      alive();
      try {
        await admin.connect();
        const { brokers: registered } = await admin.describeCluster();
        if (registered.length >= brokers) return;
      } catch {
        // Not up yet.
      }
      if (Date.now() > deadline) throw new Error(`the Kafka cluster did not show ${brokers} brokers in ${READY_TIMEOUT_MS / 1000} s; logs in ${logs}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export async function startKafkaCluster(options: { brokers?: 1 | 3; dir?: string; settings?: Record<string, string> } = {}): Promise<KafkaCluster> {
  const count = options.brokers ?? 1;
  ensureKafkaJars();
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hunt-kafka-'));
  fs.mkdirSync(dir, { recursive: true });
  const nodes: KafkaNode[] = [];
  for (let i = 0; i < count; i++) nodes.push({ id: i + 1, port: await freePort(), controllerPort: await freePort(), logDir: path.join(dir, `node-${i + 1}`), process: null });
  const configOf = (node: KafkaNode) => path.join(dir, `node-${node.id}.properties`);
  const logOf = (node: KafkaNode) => path.join(dir, `node-${node.id}.log`);
  const bootstrap = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  const clusterId = newClusterId();
  for (const node of nodes) fs.writeFileSync(configOf(node), nodeProperties(node, nodes, options.settings ?? {}));
  const killNode = async (node: KafkaNode) => {
    if (node.process === null) return;
    node.process.kill('SIGKILL');
    await exited(node.process);
    node.process = null;
  };
  // Every node is a voter, so none can be ready before a majority runs: start them all, then wait.
  const launch = (node: KafkaNode) => {
    node.process = runJava(['kafka.Kafka', configOf(node)], logOf(node));
  };
  const failIfDead = () => {
    for (const node of nodes) {
      if (node.process !== null && node.process.exitCode !== null) throw new Error(`Kafka node ${node.id} exited with ${node.process.exitCode}; see ${logOf(node)}`);
    }
  };
  try {
    await Promise.all(nodes.map((node) => formatStorage(node, clusterId, configOf(node), logOf(node))));
    nodes.forEach(launch);
    await waitForBrokers(bootstrap, count, dir, failIfDead);
  } catch (error) {
    await Promise.all(nodes.map(killNode));
    if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    bootstrap,
    nodes,
    kill: (index) => killNode(nodes[index]!),
    async restart(index) {
      const node = nodes[index]!;
      if (node.process !== null) throw new Error(`Kafka node ${node.id} is running`);
      launch(node);
      await waitForBrokers(bootstrap, nodes.filter((n) => n.process !== null).length, dir, failIfDead);
    },
    async stop() {
      // SIGTERM lets a broker close its logs cleanly; a node that does not end in 20 s is killed.
      await Promise.all(
        nodes.map(async (node) => {
          if (node.process === null) return;
          const child = node.process;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          await exited(child);
          clearTimeout(timer);
          node.process = null;
        }),
      );
      if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const brokers = Number(flag('brokers') ?? '1');
  if (brokers !== 1 && brokers !== 3) throw new Error(`--brokers ${brokers}: 1 or 3`);
  const dir = flag('dir');
  process.stderr.write(`starting ${brokers} Kafka node(s)…\n`);
  const cluster = await startKafkaCluster({ brokers, ...(dir === undefined ? {} : { dir: path.resolve(dir) }) });
  console.log(`Kafka is ready: bootstrap servers ${cluster.bootstrap} (Ctrl-C stops it${dir === undefined ? ' and removes its data' : ''})`);
  const stop = () => void cluster.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
