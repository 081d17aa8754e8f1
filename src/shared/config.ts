// Engine configuration: every setting is a HUNT_* environment variable, validated here once at
// start-up. Errors name the variable, the bad value and what is allowed; all problems are reported
// together so an operator fixes them in one pass.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Layout } from './partition.js';
import type { Limits } from './wire.js';

export type Durability = 'sync' | 'async';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface EngineConfig {
  host: string;
  port: number;
  dataDir: string;
  workers: number;
  /** Acceptor threads, each with its own uWS app on the shared port. */
  acceptors: number;
  /** Unset: the data directory's recorded count, or newLayout's for a new one. */
  partitions: number | undefined;
  /** Unset: the data directory's recorded count, or newLayout's for a new one. */
  stores: number | undefined;
  durability: Durability;
  routes: string | undefined;
  authTokens: string[];
  /** Static tokens with scopes, one JSON object per line (src/main/auth/token-file.ts). */
  authFile: string | undefined;
  /** HMAC secret for JWTs (HS256/384/512). */
  jwtSecretFile: string | undefined;
  /** JSON Web Key Set of public keys for JWTs. */
  jwtJwksFile: string | undefined;
  jwtAudience: string | undefined;
  jwtIssuer: string | undefined;
  logLevel: LogLevel;
  maxPayloadBytes: number;
  maxEventsPerPub: number;
  maxInFlight: number;
  maxKeyBytes: number;
  maxTypeBytes: number;
  maxDataDepth: number;
  maxBacklogBytes: number;
  ringBytes: number;
  batchMaxEvents: number;
  cacheKeys: number;
  idleTimeoutSeconds: number;
  shutdownTimeoutMs: number;
  maxProducers: number;
  producerTtlSeconds: number;
  maxConnections: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  maxSubscriptions: number;
  subscriberMaxLagBytes: number;
  logRetentionEvents: number;
  logRetentionSeconds: number;
  /** Serve GET /metrics and keep its counters (off: no instrumentation on the hot path). */
  metrics: boolean;
  /** Cluster mode (HUNT_KAFKA_BROKERS set): the events go through Apache Kafka; undefined: one host. */
  kafka: KafkaConfig | undefined;
}

export interface KafkaConfig {
  /** Bootstrap brokers, host:port each. */
  brokers: string[];
  /** The events topic: exactly P partitions, engine partition p = Kafka partition p. */
  topic: string;
  /** The consumer group the hosts form. */
  group: string;
  /** Replicas of the topics the engine creates (when they do not exist yet). */
  replication: number | undefined;
  /** Where other hosts send clients for the partitions this host applies; undefined: derived from HUNT_HOST and the port. */
  advertisedUrl: string | undefined;
}

/** LMDB refuses keys over 1978 bytes (default page size); keep a margin. */
export const LMDB_MAX_KEY_BYTES = 1900;

/** A new data directory has at least this many partitions (see newLayout). */
const MIN_DEFAULT_PARTITIONS = 64;

const cores = os.availableParallelism();

/**
 * Acceptor threads by default: two fifths of the cores, at least 1. On 2 cores that is 1: a second
 * acceptor gained 7% at peak but cost 1.3–1.6× the p99 at a quarter and half of peak, its thread
 * competing with the workers and the clients for the two cores (docs/performance.md#acceptors).
 * On larger hosts this is the
 * scaling model's best split for the default `sync` durability: an acceptor costs about 0.6–0.7 µs
 * of CPU per event with its ring writes, a `sync` worker about 1.7 µs of commit-to-durable time,
 * and the kernel's uneven spread of connections loads the busiest acceptor 1.2–1.3× its share
 * (docs/performance.md#scaling-and-a-model-of-a-larger-host; `async` does best with half).
 */
export const DEFAULT_ACCEPTORS = Math.max(1, Math.round((cores * 2) / 5));

/** Partition workers by default: the cores the acceptors leave, at least 2 (at most the cores). */
export const DEFAULT_WORKERS = Math.min(cores, Math.max(2, cores - DEFAULT_ACCEPTORS));

/**
 * The layout of a new data directory, where HUNT_STORES or HUNT_PARTITIONS are unset. One store per
 * worker: each store has its own write lock and one owner worker, so the stores cap the workers
 * that write in parallel, while each store a batch touches is a commit of its own (and a flush in
 * sync mode), so stores beyond the workers cost CPU (measured: docs/performance.md#stores). The
 * partitions are the smallest multiple of the stores that is at least 64, so every store holds as
 * many. With HUNT_PARTITIONS set, the fewest stores (at most one per worker) that leave the busiest
 * store no more partitions than one store per worker would: 64 partitions and 38 workers give 32
 * stores of 2 partitions, not 38 of which 26 hold 2 and 12 hold 1.
 */
export function newLayout(requested: { partitions: number | undefined; stores: number | undefined }, workers: number): Layout {
  if (requested.stores !== undefined) return { stores: requested.stores, partitions: requested.partitions ?? Math.ceil(MIN_DEFAULT_PARTITIONS / requested.stores) * requested.stores };
  if (requested.partitions === undefined) return { stores: workers, partitions: Math.ceil(MIN_DEFAULT_PARTITIONS / workers) * workers };
  const busiestStore = Math.ceil(requested.partitions / Math.min(workers, requested.partitions));
  return { stores: Math.ceil(requested.partitions / busiestStore), partitions: requested.partitions };
}

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`));

const powerOfTwo = (min: number, max: number) =>
  int(min, max).refine((n) => (n & (n - 1)) === 0, `a power of two from ${min} to ${max}`);

const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, { errorMap: () => ({ message: `one of ${values.join(', ')}` }) });

const nonEmpty = z.string().min(1, 'a non-empty string');

/** A comma-separated list of host:port (empty: unset). */
const hostPorts = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter((b) => b.length > 0))
  .pipe(z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'comma-separated host:port pairs, e.g. kafka1:9092,kafka2:9092')));

/** Kafka's legal topic and group names (its own rule: at most 249 of [a-zA-Z0-9._-]). */
const kafkaName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka name: 1 to 249 of a-z, A-Z, 0-9, ".", "_", "-"');

/** The events topic's name: a Kafka name with room for the changelog topic's suffix. */
const kafkaTopic = z.string().regex(/^[a-zA-Z0-9._-]{1,239}$/, 'a Kafka name of at most 239 characters (the changelog topic adds "-changelog"): a-z, A-Z, 0-9, ".", "_", "-"');

/** A host's base URL: scheme, host and port, no path. */
const baseUrl = z.union([z.literal(''), z.string().regex(/^https?:\/\/[^/\s?#]+\/?$/, 'an http:// or https:// URL with no path, e.g. http://host1.example:9001')]);

/** Read by the CLI, not the engine (an env file shared by both must not warn about them). */
const CLIENT_VARIABLES = new Set(['HUNT_URL']);

/** Each entry: variable name → [schema for its string value, default as an env string]. */
const SETTINGS = {
  HUNT_HOST: [nonEmpty, '127.0.0.1'],
  HUNT_PORT: [int(0, 65535), '9001'],
  HUNT_DATA_DIR: [nonEmpty, './data'],
  HUNT_WORKERS: [int(1, 256), String(DEFAULT_WORKERS)],
  HUNT_ACCEPTORS: [int(1, 64), String(DEFAULT_ACCEPTORS)],
  HUNT_PARTITIONS: [z.union([z.literal('').transform(() => undefined), int(1, 65535)]), ''],
  HUNT_STORES: [z.union([z.literal('').transform(() => undefined), int(1, 4096)]), ''],
  HUNT_DURABILITY: [oneOf(['sync', 'async']), 'sync'],
  HUNT_ROUTES: [z.string(), ''],
  HUNT_AUTH_TOKENS: [
    z
      .string()
      .transform((s) => s.split(',').map((t) => t.trim()).filter((t) => t.length > 0))
      .pipe(z.array(z.string().min(16, 'tokens of at least 16 characters'))),
    '',
  ],
  HUNT_AUTH_FILE: [z.string(), ''],
  HUNT_JWT_SECRET_FILE: [z.string(), ''],
  HUNT_JWT_JWKS_FILE: [z.string(), ''],
  HUNT_JWT_AUDIENCE: [z.string(), ''],
  HUNT_JWT_ISSUER: [z.string(), ''],
  HUNT_LOG_LEVEL: [oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'],
  HUNT_MAX_PAYLOAD_BYTES: [int(1024, 64 * 1024 * 1024), String(1024 * 1024)],
  HUNT_MAX_EVENTS_PER_PUB: [int(1, 100_000), '10000'],
  HUNT_MAX_IN_FLIGHT: [int(1, 65_536), '256'],
  HUNT_MAX_KEY_BYTES: [int(1, LMDB_MAX_KEY_BYTES), '512'],
  HUNT_MAX_TYPE_BYTES: [int(1, 1024), '128'],
  HUNT_MAX_DATA_DEPTH: [int(1, 64), '16'],
  HUNT_MAX_BACKLOG_BYTES: [int(1024 * 1024, 2 ** 40), String(256 * 1024 * 1024)],
  HUNT_RING_BYTES: [powerOfTwo(1 << 20, 1 << 30), String(32 << 20)],
  HUNT_BATCH_MAX_EVENTS: [int(1, 1_000_000), '50000'],
  HUNT_CACHE_KEYS: [int(0, 100_000_000), '500000'],
  HUNT_IDLE_TIMEOUT_S: [
    int(0, 960).refine((n) => n === 0 || n >= 8, '0 (off) or an integer from 8 to 960'),
    '120',
  ],
  HUNT_SHUTDOWN_TIMEOUT_MS: [int(100, 600_000), '10000'],
  HUNT_MAX_PRODUCERS: [int(1, 1_000_000), '10000'],
  HUNT_PRODUCER_TTL_S: [int(60, 10 * 365 * 24 * 3600), String(7 * 24 * 3600)],
  HUNT_MAX_CONNECTIONS: [int(1, 1_000_000), '10000'],
  HUNT_MAX_SUBSCRIPTIONS: [int(1, 1_000_000), '10000'],
  HUNT_LOG_RETENTION_EVENTS: [int(0, 1_000_000_000), '0'],
  HUNT_LOG_RETENTION_S: [int(0, 10 * 365 * 24 * 3600), '0'],
  HUNT_SUBSCRIBER_MAX_LAG_BYTES: [int(64 * 1024, 3 * 1024 * 1024), String(1024 * 1024)],
  HUNT_TLS_CERT: [z.string(), ''],
  HUNT_TLS_KEY: [z.string(), ''],
  HUNT_METRICS: [oneOf(['on', 'off']), 'on'],
  HUNT_KAFKA_BROKERS: [hostPorts, ''],
  HUNT_KAFKA_TOPIC: [kafkaTopic, 'hunt-events'],
  HUNT_KAFKA_GROUP: [kafkaName, 'hunt-engine'],
  HUNT_KAFKA_REPLICATION: [z.union([z.literal('').transform(() => undefined), int(1, 32)]), ''],
  HUNT_ADVERTISED_URL: [baseUrl, ''],
} as const satisfies Record<string, readonly [z.ZodTypeAny, string]>;

type SettingName = keyof typeof SETTINGS;

/** Defaults that are not one literal value, as the settings reference (docs/operations.md) words them. */
const DESCRIBED_DEFAULTS: Partial<Record<SettingName, string>> = {
  HUNT_WORKERS: 'the cores the acceptors leave, at least 2 (at most the cores)', // DEFAULT_WORKERS
  HUNT_ACCEPTORS: 'two fifths of the cores, at least 1', // DEFAULT_ACCEPTORS
  HUNT_PARTITIONS: 'for a new directory: the smallest multiple of the stores that is at least 64', // newLayout
  HUNT_STORES: 'for a new directory: one per worker (fewer if HUNT_PARTITIONS does not divide evenly)', // newLayout
  HUNT_KAFKA_REPLICATION: 'the brokers in the cluster, at most 3', // main/cluster/kafka-startup.ts
  HUNT_ADVERTISED_URL: 'http(s)://HUNT_HOST:port (the machine\'s host name for a wildcard HUNT_HOST)', // main/cluster/advertised-url.ts
};

/**
 * Every setting with its default as the settings reference must state it ('unset' for none);
 * test/docs.test.ts holds docs/operations.md to it.
 */
/** The limits on what clients send, as the welcome message states them. */
export function limitsOf(config: EngineConfig): Limits {
  return {
    maxInFlight: config.maxInFlight,
    maxEventsPerPub: config.maxEventsPerPub,
    maxPayloadBytes: config.maxPayloadBytes,
    maxKeyBytes: config.maxKeyBytes,
    maxTypeBytes: config.maxTypeBytes,
    maxDataDepth: config.maxDataDepth,
  };
}

export function documentedDefaults(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(SETTINGS).map(([name, [, fallback]]) => [name, DESCRIBED_DEFAULTS[name as SettingName] ?? (fallback === '' ? 'unset' : fallback)]),
  );
}
type Parsed = { [K in SettingName]: z.output<(typeof SETTINGS)[K][0]> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: EngineConfig;
  /** HUNT_* variables that are not settings (likely typos), to be warned about. */
  unknownVariables: string[];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const problems: string[] = [];
  const parsed: Partial<Record<SettingName, unknown>> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const [schema, fallback] = SETTINGS[name];
    const raw = env[name];
    const result = schema.safeParse(raw === undefined ? fallback : raw.trim());
    if (result.success) parsed[name] = result.data;
    else {
      const allowed = [...new Set(result.error.issues.map((i) => i.message))].join('; ');
      problems.push(`${name}=${JSON.stringify(raw)} is invalid: allowed is ${allowed}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const p = parsed as Parsed;
  const unknownVariables = Object.keys(env).filter(
    (name) => name.startsWith('HUNT_') && !(name in SETTINGS) && !CLIENT_VARIABLES.has(name),
  );
  return {
    unknownVariables,
    config: {
      host: p.HUNT_HOST,
      port: p.HUNT_PORT,
      dataDir: path.resolve(p.HUNT_DATA_DIR),
      workers: p.HUNT_WORKERS,
      acceptors: p.HUNT_ACCEPTORS,
      partitions: p.HUNT_PARTITIONS,
      stores: p.HUNT_STORES,
      durability: p.HUNT_DURABILITY as Durability,
      routes: unsetIfEmpty(p.HUNT_ROUTES),
      authTokens: p.HUNT_AUTH_TOKENS,
      authFile: unsetIfEmpty(p.HUNT_AUTH_FILE),
      jwtSecretFile: unsetIfEmpty(p.HUNT_JWT_SECRET_FILE),
      jwtJwksFile: unsetIfEmpty(p.HUNT_JWT_JWKS_FILE),
      jwtAudience: unsetIfEmpty(p.HUNT_JWT_AUDIENCE),
      jwtIssuer: unsetIfEmpty(p.HUNT_JWT_ISSUER),
      logLevel: p.HUNT_LOG_LEVEL as LogLevel,
      maxPayloadBytes: p.HUNT_MAX_PAYLOAD_BYTES,
      maxEventsPerPub: p.HUNT_MAX_EVENTS_PER_PUB,
      maxInFlight: p.HUNT_MAX_IN_FLIGHT,
      maxKeyBytes: p.HUNT_MAX_KEY_BYTES,
      maxTypeBytes: p.HUNT_MAX_TYPE_BYTES,
      maxDataDepth: p.HUNT_MAX_DATA_DEPTH,
      maxBacklogBytes: p.HUNT_MAX_BACKLOG_BYTES,
      ringBytes: p.HUNT_RING_BYTES,
      batchMaxEvents: p.HUNT_BATCH_MAX_EVENTS,
      cacheKeys: p.HUNT_CACHE_KEYS,
      idleTimeoutSeconds: p.HUNT_IDLE_TIMEOUT_S,
      shutdownTimeoutMs: p.HUNT_SHUTDOWN_TIMEOUT_MS,
      maxProducers: p.HUNT_MAX_PRODUCERS,
      producerTtlSeconds: p.HUNT_PRODUCER_TTL_S,
      maxConnections: p.HUNT_MAX_CONNECTIONS,
      maxSubscriptions: p.HUNT_MAX_SUBSCRIPTIONS,
      logRetentionEvents: p.HUNT_LOG_RETENTION_EVENTS,
      logRetentionSeconds: p.HUNT_LOG_RETENTION_S,
      subscriberMaxLagBytes: p.HUNT_SUBSCRIBER_MAX_LAG_BYTES,
      tlsCert: unsetIfEmpty(p.HUNT_TLS_CERT),
      tlsKey: unsetIfEmpty(p.HUNT_TLS_KEY),
      metrics: p.HUNT_METRICS === 'on',
      kafka:
        p.HUNT_KAFKA_BROKERS.length === 0
          ? undefined
          : { brokers: p.HUNT_KAFKA_BROKERS, topic: p.HUNT_KAFKA_TOPIC, group: p.HUNT_KAFKA_GROUP, replication: p.HUNT_KAFKA_REPLICATION, advertisedUrl: unsetIfEmpty(p.HUNT_ADVERTISED_URL)?.replace(/\/$/, '') },
    },
  };
}

const unsetIfEmpty = (value: string): string | undefined => (value === '' ? undefined : value);

/** The configuration as it is safe to log or show: tokens are never printed. */
export function redactedConfig(config: EngineConfig): Record<string, unknown> {
  return { ...config, authTokens: `${config.authTokens.length} token(s)` };
}
