// Composition of the engine: data directory, LMDB, rings, partition workers, ack tracking and the
// uWS front end; and the orderly stop (stop taking, finish and ack what was taken, close storage).
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, redactedConfig, type EngineConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { ownerOf, partitionsOwnedBy, storeOf, storesOwnedBy, type Layout } from '../../shared/partition.js';
import { createDoorbell, maxRecordPayload } from '../../shared/ring.js';
import { StoreSet, storePath } from '../../shared/store.js';
import type { PartitionWorkerTask, WorkerFault } from '../../shared/worker-task.js';
import { AckTracker } from '../ingest/ack-tracker.js';
import { TokenCheck } from '../http/auth.js';
import { openDataDir, type OpenedDataDir } from './data-dir.js';
import { EVENT_HEADER_BYTES } from '../../shared/event-record.js';
import { Ingest } from '../ingest/ingest.js';
import { MessageHandler } from '../connections/message-handler.js';
import { PartitionChannel } from '../ingest/partition-channel.js';
import { EngineMetrics } from '../http/metrics.js';
import { ProducerRegistry } from '../ingest/producers.js';
import { SubscriptionRegistry } from '../streams/subscriptions.js';
import { LogFollows } from '../streams/log-follows.js';
import { createInterest } from '../../shared/interest.js';
import { decodeMeta } from '../../shared/meta-codec.js';
import { ProgressKind, type ProgressRecord } from '../../shared/progress-record.js';
import { WorkerStats } from '../../shared/worker-stats.js';
import { tlsProblems } from '../http/tls.js';
import { Router } from '../routes/router.js';
import { loadRoutes } from '../routes/routes-file.js';
import { describeProblem, RoutesError, type RoutesReload } from '../routes/routes.js';
import { type Limits } from '../../shared/wire.js';
import { FrontEndServer } from '../http/server.js';
import type { PartitionInfo } from '../http/listings.js';
import { retainedRange } from '../../shared/event-log.js';
import { PartitionWorkerPool } from './worker-pool.js';

const PROGRESS_WAIT_MS = 1000;
/** How often idle producers are looked for (their TTL is HUNT_PRODUCER_TTL_S). */
const PRODUCER_EXPIRY_INTERVAL_MS = 60 * 60 * 1000;

export interface EngineHooks {
  /**
   * Called when the engine cannot go on safely (a worker keeps dying, a storage fault), after it
   * stopped taking pubs and acking and closed every connection (1011); `npm start` exits with 1.
   */
  onFatal(error: Error): void;
  /** Tests only: kill worker 0's thread once at a chosen point of a batch. */
  workerFault?: WorkerFault;
  /** Tests only: how often idle producers are looked for, and the clock that expiry reads. */
  producerExpiry?: { intervalMs: number; now(): number };
}

/** WebSocket close code when the engine stops after a fault (RFC 6455: an unexpected condition). */
export const FAILED_CLOSE_CODE = 1011;

export class Engine {
  private pumping = true;
  private failed = false;
  private stopped: Promise<void> | null = null;
  private readonly expiryTimer: NodeJS.Timeout;

  private constructor(
    readonly config: EngineConfig,
    readonly port: number,
    /** The data directory's partitions and stores. */
    readonly layout: Layout,
    private readonly dataDir: OpenedDataDir,
    private readonly stores: StoreSet,
    private readonly channels: PartitionChannel[],
    private readonly tracker: AckTracker,
    private readonly ingest: Ingest,
    private readonly server: FrontEndServer,
    readonly pool: PartitionWorkerPool,
    readonly producers: ProducerRegistry,
    readonly subscriptions: SubscriptionRegistry,
    private readonly follows: LogFollows,
    private readonly retiredRouteMatches: Map<string, number>,
    private readonly hooks: EngineHooks,
    private readonly log: Logger,
  ) {
    const expiry = hooks.producerExpiry ?? { intervalMs: PRODUCER_EXPIRY_INTERVAL_MS, now: Date.now };
    this.expiryTimer = setInterval(() => producers.expire(expiry.now()), expiry.intervalMs).unref();
  }

  static async start(config: EngineConfig, log: Logger, hooks: EngineHooks): Promise<Engine> {
    const router = checkSettings(config);
    const dataDir = openDataDir(config.dataDir, { partitions: config.partitions, stores: config.stores });
    const layout: Layout = { partitions: dataDir.partitions, stores: dataDir.stores };
    let stores: StoreSet | null = null;
    let server: FrontEndServer | null = null;
    let engine!: Engine;
    try {
      stores = StoreSet.open(config.dataDir, layout);
      const partitions = dataDir.partitions;
      // Per partition: records written for it, and records its worker settled; the difference is its lag.
      const recordsTaken = new Float64Array(partitions);
      const settledRecords = new SharedArrayBuffer(partitions * Float64Array.BYTES_PER_ELEMENT);
      const recordsSettled = new Float64Array(settledRecords);

      const limits: Limits = {
        maxInFlight: config.maxInFlight,
        maxEventsPerPub: config.maxEventsPerPub,
        maxPayloadBytes: config.maxPayloadBytes,
        maxKeyBytes: config.maxKeyBytes,
        maxTypeBytes: config.maxTypeBytes,
        maxDataDepth: config.maxDataDepth,
      };
      const channels: PartitionChannel[] = [];
      for (let w = 0; w < config.workers; w++) channels.push(new PartitionChannel(w, config.ringBytes, createDoorbell()));
      const tracker = new AckTracker(config.workers);
      const ingest = new Ingest(channels, recordsTaken, tracker, {
        ...limits,
        layout,
        maxBacklogBytes: config.maxBacklogBytes,
      });
      ingest.router = router;
      const producers = ProducerRegistry.load(stores, { maxProducers: config.maxProducers, ttlMs: config.producerTtlSeconds * 1000 }, log);
      const interest = createInterest();
      const subscriptions = new SubscriptionRegistry(interest, { maxPerConnection: config.maxSubscriptions, maxLagBytes: config.subscriberMaxLagBytes });
      const workerStats = channels.map(() => WorkerStats.create());
      // Route matches of routes replaced by a reload, so the counters never go back.
      const retiredRouteMatches = new Map<string, number>();
      const metrics = config.metrics
        ? new EngineMetrics({
            connections: () => server?.connectionCount ?? 0,
            pubsInFlight: () => tracker.pending,
            channels: () => channels.map((c) => ({ worker: c.worker, ringBytes: c.ringDepthBytes(), backlogBytes: c.backlogBytes, pendingRecords: c.pendingRecords() })),
            partitionLags: () => Array.from(recordsTaken, (taken, partition) => ({ partition, lag: taken - recordsSettled[partition]! })),
            subscriptionUpdates: () => subscriptions.updatesSent,
            subscribers: () => subscriptions.subscribers,
            logFollows: () => follows.size,
            producers: () => producers.size,
            routeMatches: () => {
              const matches = new Map(retiredRouteMatches);
              ingest.router?.matchCounts(matches);
              return matches;
            },
            workerStats,
            dataFiles: Array.from({ length: layout.stores }, (_, s) => `${storePath(config.dataDir, s)}/data.mdb`),
          })
        : null;
      if (metrics !== null) {
        tracker.onSettled = metrics.onSettled.bind(metrics);
        ingest.onTaken = (events) => metrics.eventsReceived.inc(events);
      }
      // Follows pause at the same unsent-bytes mark where a subscriber would be dropped.
      const follows = new LogFollows(stores, config.workers, (p) => ownerOf(p, layout, config.workers), { maxPerConnection: config.maxSubscriptions, maxBufferedBytes: config.subscriberMaxLagBytes }, log);
      const handler = new MessageHandler(ingest, producers, subscriptions, follows, stores, limits, { partitions, enabled: config.logRetentionEvents > 0 }, log);
      if (metrics !== null) handler.onError = (code) => metrics.errors.inc({ code });
      server = new FrontEndServer(
        {
          host: config.host,
          port: config.port,
          limits,
          idleTimeoutSeconds: config.idleTimeoutSeconds,
          maxConnections: config.maxConnections,
          partitions: () => partitionInfo(layout, config.workers, recordsTaken, recordsSettled, stores!, channels),
          metrics: metrics === null ? null : () => metrics.registry.metrics(),
          stats: metrics === null ? null : async () => ({ ...(await metrics.stats()), partitions, config: redactedConfig(config) }),
          tls: config.tlsCert !== undefined && config.tlsKey !== undefined ? { certFile: config.tlsCert, keyFile: config.tlsKey } : undefined,
          welcome: { partitions, durability: config.durability },
          // The engine exists before the server serves its first request (nothing yields in between).
          reloadRoutes: (trigger) => engine.reloadRoutes(trigger),
        },
        handler,
        stores,
        new TokenCheck(config.authTokens),
        log,
      );
      // Ring marks count records of rings that died with the previous process.
      stores.clearRingMarks();
      const tasks: PartitionWorkerTask[] = channels.map((channel) => ({
        worker: channel.worker,
        layout,
        ownedStores: storesOwnedBy(channel.worker, config.workers, layout.stores),
        ownedPartitions: partitionsOwnedBy(channel.worker, config.workers, layout),
        acceptors: [{ inbound: channel.inboundBuffers, outbound: channel.outboundBuffers, interest }],
        settledRecords,
        dataDir: config.dataDir,
        durability: config.durability,
        batchMaxEvents: config.batchMaxEvents,
        cacheKeys: Math.ceil(config.cacheKeys / config.workers),
        logLevel: config.logLevel,
        stats: workerStats[channel.worker]!.buffer,
        logRetentionEvents: config.logRetentionEvents,
        logRetentionSeconds: config.logRetentionSeconds,
        ...(hooks.workerFault !== undefined && channel.worker === 0 ? { fault: hooks.workerFault } : {}),
      }));
      // Listen first: if the port is taken, no worker thread has started yet. Upgrades are
      // refused (503) until `ready`.
      const port = await server.listen();
      // A restarted loop cannot resend the change notices of a batch its predecessor committed:
      // subscribers are told they may have missed updates rather than left believing they are current.
      const pool = new PartitionWorkerPool(tasks, log, (error) => engine.fail(error), () => {
        metrics?.workerRestarts.inc();
        subscriptions.dropAll('a partition worker restarted; updates may have been missed');
      });
      pool.start();
      engine = new Engine(config, port, layout, dataDir, stores, channels, tracker, ingest, server, pool, producers, subscriptions, follows, retiredRouteMatches, hooks, log);
      for (const channel of channels) void engine.pumpProgress(channel);
      server.ready = true;
      log.info(
        { host: config.host, port, tls: config.tlsCert !== undefined, partitions, stores: layout.stores, workers: config.workers, durability: config.durability, created: dataDir.created },
        `listening on ${config.host}:${port}`,
      );
      return engine;
    } catch (error) {
      server?.stopListening();
      if (stores !== null) await stores.close();
      dataDir.unlock();
      throw error;
    }
  }

  /** Moves workers' progress reports into acks, and backlog into rings as space frees up. */
  private async pumpProgress(channel: PartitionChannel): Promise<void> {
    let reported = false;
    const onReport = (report: ProgressRecord) => {
      // After a fault nothing more is acked: a later report may cover what the fault left unknown.
      if (this.failed) return;
      if (report.kind === ProgressKind.Fatal) {
        this.fail(new Error(`partition worker ${channel.worker}: ${report.message}`));
        return;
      }
      reported = true;
      this.tracker.onProgress(channel.worker, report);
    };
    const onNotice = (key: string, meta: Buffer) => this.subscriptions.deliver(key, () => decodeMeta(meta));
    while (this.pumping) {
      channel.readProgress(onReport, onNotice);
      if (reported) {
        reported = false;
        // lmdb-js keeps this thread's read snapshot until a setTimeout(0) fires, so a read right
        // after a worker's commit (a follow's, or a `get` racing its pub's ack) could miss it.
        this.stores.resetReadTxns();
        this.follows.onCommitted(channel.worker);
      }
      if (channel.backlogBytes > 0) channel.drainBacklog();
      await channel.waitForProgress(PROGRESS_WAIT_MS);
    }
  }

  /**
   * Re-reads HUNT_ROUTES (on SIGHUP or POST /v1/admin/reload-routes, `trigger`). A valid file
   * replaces the routes between two frames (every event is routed wholly by the old or by the new
   * routes); an invalid one is logged and the old stay.
   */
  reloadRoutes(trigger: string): RoutesReload {
    const file = this.config.routes;
    if (file === undefined) {
      this.log.warn({ trigger }, 'routes reload asked for, but HUNT_ROUTES is not set');
      return { outcome: 'no-file' };
    }
    try {
      const routes = loadRoutes(file);
      this.ingest.router?.matchCounts(this.retiredRouteMatches);
      this.ingest.router = new Router(routes);
      this.log.info({ trigger, file, routes: routes.routes.length }, 'routes reloaded');
      return { outcome: 'reloaded', file, routes: routes.routes.length };
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      this.log.error({ trigger, file, problems: error.problems }, 'routes reload refused: the file is invalid; the previous routes stay');
      return { outcome: 'invalid', file, problems: error.problems };
    }
  }

  /** Per-worker figures: bytes in the ring, in the backlog now, the backlog's peak, notices received. */
  channelStats(): { worker: number; ringBytes: number; backlogBytes: number; peakBacklogBytes: number; notices: number }[] {
    return this.channels.map((c) => ({
      worker: c.worker,
      ringBytes: c.ringDepthBytes(),
      backlogBytes: c.backlogBytes,
      peakBacklogBytes: c.peakBacklogBytes,
      notices: c.notices,
    }));
  }

  /**
   * The engine cannot go on safely: it takes no more pubs, acks nothing more (a pub whose fate is
   * unknown gets no answer: its client re-sends it after reconnecting, and an idempotent producer's
   * re-send applies once), closes every connection with 1011, and calls the fatal hook.
   */
  fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.pumping = false;
    this.server.ready = false;
    this.ingest.draining = true;
    this.server.stopListening();
    this.server.closeConnections(FAILED_CLOSE_CODE, 'the engine stopped after a fault; re-send unacknowledged pubs once it is back');
    this.hooks.onFatal(error);
  }

  /** Idempotent orderly stop; resolves when storage is closed. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const timeoutMs = this.config.shutdownTimeoutMs;
    this.log.info({ pending: this.tracker.pending }, 'stopping: no new connections or pubs');
    this.server.ready = false;
    this.ingest.draining = true;
    this.server.stopListening();
    if (!(await finishesWithin(this.tracker.idle(), timeoutMs))) {
      this.log.error({ pending: this.tracker.pending }, 'stopping: pubs still pending after the shutdown timeout');
    }
    for (const channel of this.channels) channel.close();
    if (!(await finishesWithin(this.pool.stop(), timeoutMs))) {
      this.log.error('stopping: partition workers did not finish in time; terminating them');
      await this.pool.destroy();
    }
    this.pumping = false;
    clearInterval(this.expiryTimer);
    this.server.closeConnections(1001, 'engine shutting down');
    await this.stores.close();
    this.dataDir.unlock();
    this.log.info('stopped');
  }
}

/** Whether `work` settles within `ms`; the timer never outlives the answer. */
async function finishesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const timeout = new AbortController();
  try {
    return await Promise.race([work.then(() => true), sleep(ms, false, { signal: timeout.signal })]);
  } finally {
    timeout.abort();
  }
}

function partitionInfo(layout: Layout, workers: number, recordsTaken: Float64Array, recordsSettled: Float64Array, stores: StoreSet, channels: PartitionChannel[]): PartitionInfo[] {
  const info: PartitionInfo[] = [];
  for (let p = 0; p < layout.partitions; p++) {
    const worker = ownerOf(p, layout, workers);
    info.push({
      partition: p,
      store: storeOf(p, layout.stores),
      worker,
      pendingEvents: recordsTaken[p]! - recordsSettled[p]!,
      appliedOffset: stores.appliedOffset(p),
      workerRingBytes: channels[worker]!.ringDepthBytes(),
      log: retainedRange(stores.ofPartition(p), p),
    });
  }
  return info;
}

/**
 * Settings that are valid alone but not together, the TLS files and the routes file; every problem
 * at once. Returns the router for HUNT_ROUTES (null: the default merge).
 */
function checkSettings(config: EngineConfig): Router | null {
  const problems: string[] = [];
  let router: Router | null = null;
  if (config.routes !== undefined) {
    try {
      router = new Router(loadRoutes(config.routes));
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      for (const p of error.problems) problems.push(`HUNT_ROUTES=${JSON.stringify(config.routes)} is invalid: ${describeProblem(p)}`);
    }
  }
  problems.push(...tlsProblems(config.tlsCert, config.tlsKey));
  const largestRecord = config.maxPayloadBytes + EVENT_HEADER_BYTES;
  if (largestRecord > maxRecordPayload(config.ringBytes)) {
    problems.push(
      `HUNT_MAX_PAYLOAD_BYTES=${config.maxPayloadBytes} is invalid with HUNT_RING_BYTES=${config.ringBytes}: ` +
        `allowed is at most ${maxRecordPayload(config.ringBytes) - EVENT_HEADER_BYTES} (a quarter of the ring)`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return router;
}
