// The servers the bench compares the engine with, other than the naive baseline: each started and
// stopped by the bench itself, on loopback only. A peer whose server is not installed is reported
// as skipped with the reason; `--install-peers` installs Debian's package first.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { cpuMicrosOf, freePort, startServerProcess, statusKiB, waitForOutput, type EngineProcess } from './engine-process.js';
import type { PubsQueueType } from './rabbitmq-queues.js';
import { startKafkaCluster } from './kafka-cluster.js';
import { COMMITTED_TOPIC, PUBS_TOPIC } from './kafka-topics.js';

/** Why a peer cannot run here (null: it can). */
export function peerUnavailable(binary: string): string | null {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return null;
  } catch {
    return `${binary} is not installed (run the bench with --install-peers, or apt-get install it)`;
  }
}

/** apt-get installs Debian packages (needs root or sudo); throws with apt's output on failure. */
export function installPeers(packages: string[]): void {
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args: string[]) => execFileSync(sudo[0] ?? args[0]!, sudo.length > 0 ? args : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', ...packages]);
}

/**
 * redis-server with an append-only file (`appendfsync` everysec or always) in `dataDir`, and the
 * `ws` front end of redis-peer-server.ts in front of it: one EngineProcess whose CPU and memory are
 * both processes'.
 */
export async function startRedisPeer(dataDir: string, appendfsync: 'everysec' | 'always'): Promise<EngineProcess> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', appendfsync, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const redisExited = new Promise<void>((resolve) => redis.once('exit', () => resolve()));
  try {
    await waitForOutput(redis, /Ready to accept connections/, 'redis-server');
    const front = await startServerProcess([fileURLToPath(new URL('./redis-peer-server.js', import.meta.url)), String(port)], {});
    return withHelpers(front, () => [redis.pid!], async () => {
      redis.kill('SIGTERM');
      await redisExited;
    });
  } catch (error) {
    redis.kill('SIGKILL');
    throw error;
  }
}

/** A process and all its descendants (RabbitMQ runs as a tree of Erlang processes). */
function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(Number(entry), Number(fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const tree: number[] = [];
  for (const pid of parents.keys()) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) {
      if (p === root) {
        tree.push(pid);
        break;
      }
    }
  }
  return tree;
}

/** The sum of `read` over processes, skipping those that end meanwhile. */
function sumOver(pids: number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += read(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

/**
 * The front end and the processes behind it (`helpers`, asked at each reading) as one
 * EngineProcess: CPU and memory summed (the peak as the sum of each process's peak); `stop` stops
 * the front end, then runs `stopHelpers`.
 */
function withHelpers(front: EngineProcess, helpers: () => number[], stopHelpers: () => Promise<void>): EngineProcess {
  return {
    ...front,
    cpuMicros: () => front.cpuMicros() + sumOver(helpers(), cpuMicrosOf),
    peakRssBytes: () => front.peakRssBytes() + sumOver(helpers(), (pid) => statusKiB(pid, 'VmHWM') * 1024),
    rssBytes: () => front.rssBytes() + sumOver(helpers(), (pid) => statusKiB(pid, 'VmRSS') * 1024),
    stop: async (signal = 'SIGTERM') => {
      const code = await front.stop(signal);
      await stopHelpers();
      return code;
    },
  };
}

/**
 * Consumers 0…count−1 of a queue pipeline, each its own process (`args(n)`) with its own queue,
 * subject or partition and its own LMDB (the front end splits pubs by key), started one after the
 * other, each awaited until it prints `ready`; all killed if one fails to start.
 */
async function startConsumers(count: number, args: (n: number) => string[], ready: RegExp, what: string, timeoutMs = 15_000): Promise<ChildProcess[]> {
  const consumers: ChildProcess[] = [];
  try {
    for (let n = 0; n < count; n++) {
      const consumer = spawn(process.execPath, args(n), { stdio: ['ignore', 'pipe', 'pipe'] });
      consumers.push(consumer);
      await waitForOutput(consumer, ready, `${what} ${n}`, timeoutMs);
    }
    return consumers;
  } catch (error) {
    for (const consumer of consumers) consumer.kill('SIGKILL');
    throw error;
  }
}

const pidsOf = (processes: ChildProcess[]) => processes.map((child) => child.pid!);

/**
 * RabbitMQ (a node of its own, in `dataDir`, on free loopback ports), the consumers that apply the
 * pubs to LMDB, and the `ws` front end that publishes them: one EngineProcess for them all.
 */
export async function startRabbitPeer(dataDir: string, durability: 'sync' | 'async', consumerCount: number, queueType: PubsQueueType = 'classic'): Promise<EngineProcess> {
  const [amqpPort, distPort] = [await freePort(), await freePort()];
  const node = `hunt-bench-${amqpPort}@localhost`;
  const rabbit = spawn('/usr/lib/rabbitmq/bin/rabbitmq-server', [], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: dataDir,
      RABBITMQ_NODENAME: node,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(amqpPort),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: `${dataDir}/mnesia`,
      RABBITMQ_LOG_BASE: `${dataDir}/log`,
      RABBITMQ_ENABLED_PLUGINS_FILE: `${dataDir}/enabled_plugins`,
      RABBITMQ_CONFIG_FILE: `${dataDir}/none`,
    },
  });
  const killRabbit = () => {
    try {
      process.kill(-rabbit.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  try {
    await waitForOutput(rabbit, /Starting broker\.\.\. completed/, 'rabbitmq-server', 60_000);
    const url = `amqp://guest:guest@127.0.0.1:${amqpPort}`;
    const consumers = await startConsumers(consumerCount, (n) => [fileURLToPath(new URL('./rabbitmq-consumer.js', import.meta.url)), url, `${dataDir}/lmdb-${n}`, durability, queueType, String(n)], /"msg":"consuming"/, 'the RabbitMQ consumer');
    const front = await startServerProcess([fileURLToPath(new URL('./rabbitmq-front-server.js', import.meta.url)), url, queueType, String(consumerCount)], {});
    // The broker counts too: its tree of Erlang processes.
    return withHelpers(front, () => [...pidsOf(consumers), ...processTree(rabbit.pid!)], async () => {
      for (const consumer of consumers) consumer.kill('SIGKILL');
      killRabbit();
    });
  } catch (error) {
    killRabbit();
    throw error;
  }
}

/**
 * nats-server with JetStream (file storage in `dataDir`), the consumers of nats-peer.ts and its
 * `ws` front half: one EngineProcess for them all.
 */
export async function startNatsPeer(dataDir: string, durability: 'sync' | 'async', consumerCount: number): Promise<EngineProcess> {
  const port = await freePort();
  const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', `${dataDir}/jetstream`], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitForOutput(nats, /Server is ready/, 'nats-server');
    const url = `127.0.0.1:${port}`;
    const script = fileURLToPath(new URL('./nats-peer.js', import.meta.url));
    const consumers = await startConsumers(consumerCount, (n) => [script, 'consumer', url, `${dataDir}/lmdb-${n}`, durability, String(n)], /"msg":"consuming"/, 'the NATS consumer');
    const front = await startServerProcess([script, 'front', url, String(consumerCount)], {});
    return withHelpers(front, () => [...pidsOf(consumers), nats.pid!], async () => {
      for (const consumer of consumers) consumer.kill('SIGKILL');
      nats.kill('SIGKILL');
    });
  } catch (error) {
    nats.kill('SIGKILL');
    throw error;
  }
}

/**
 * A one-broker Apache Kafka (kafka-cluster.ts, in `dataDir`), the consumers of kafka-peer.ts and
 * its `ws` front half: one EngineProcess for them all. `sync`: the broker flushes each produce to
 * disk before it acks (log.flush.interval.messages=1), which is what one broker must do for an acked
 * write to survive a power loss; `async`: Kafka's default, the page cache. The front end batches
 * the pubs that arrive during a send (about 5 KB each), so a record batch may pass the broker's
 * default 1 MB limit: 16 MiB here, as for any producer that batches large messages.
 */
export async function startKafkaPeer(dataDir: string, durability: 'sync' | 'async', consumerCount: number): Promise<EngineProcess> {
  const settings: Record<string, string> = { 'message.max.bytes': String(16 << 20), ...(durability === 'sync' ? { 'log.flush.interval.messages': '1' } : {}) };
  const cluster = await startKafkaCluster({ brokers: 1, dir: `${dataDir}/kafka`, settings });
  try {
    const admin = new Kafka({ clientId: 'hunt-bench', brokers: [cluster.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: PUBS_TOPIC, numPartitions: consumerCount }, { topic: COMMITTED_TOPIC, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const script = fileURLToPath(new URL('./kafka-peer.js', import.meta.url));
    // Each consumer joins the group in turn; the last one's first assignment ends the rebalance
    // that gives each its partition.
    const consumers = await startConsumers(consumerCount, (n) => [script, 'consumer', cluster.bootstrap, `${dataDir}/lmdb-${n}`, durability], /"msg":"consuming"/, 'the Kafka consumer', 60_000);
    const front = await startServerProcess([script, 'front', cluster.bootstrap, String(consumerCount)], {}, 60_000);
    return withHelpers(front, () => [...pidsOf(consumers), cluster.nodes[0]!.process!.pid!], async () => {
      for (const consumer of consumers) consumer.kill('SIGKILL');
      await cluster.stop();
    });
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
