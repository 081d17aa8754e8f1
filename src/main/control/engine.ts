// The control side of the engine (the main thread, never on the per-event path): settings, the data
// directory and its stores, the ring mesh, the partition workers and their supervision, the
// acceptor, routes reloads, and the orderly stop (stop taking, finish and ack what was taken, close
// storage).
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, type EngineConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { partitionsOwnedBy, storesOwnedBy, type Layout } from '../../shared/partition.js';
import { maxRecordPayload } from '../../shared/ring.js';
import { StoreSet } from '../../shared/store.js';
import type { PartitionWorkerTask, WorkerFault } from '../../shared/worker-task.js';
import { openDataDir, type OpenedDataDir } from './data-dir.js';
import { EVENT_HEADER_BYTES } from '../../shared/event-record.js';
import { WorkerStats } from '../../shared/worker-stats.js';
import { tlsProblems } from '../http/tls.js';
import { Router } from '../routes/router.js';
import { loadRoutes } from '../routes/routes-file.js';
import { describeProblem, RoutesError, type RoutesReload } from '../routes/routes.js';
import { Acceptor } from '../acceptor/acceptor.js';
import type { ProducerRegistry } from '../ingest/producers.js';
import type { SubscriptionRegistry } from '../streams/subscriptions.js';
import { PartitionWorkerPool } from './worker-pool.js';
import { createRingMesh, linksOfWorker } from './ring-mesh.js';

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
  private failed = false;
  private stopped: Promise<void> | null = null;

  private constructor(
    readonly config: EngineConfig,
    readonly port: number,
    /** The data directory's partitions and stores. */
    readonly layout: Layout,
    private readonly dataDir: OpenedDataDir,
    private readonly stores: StoreSet,
    private readonly acceptor: Acceptor,
    readonly pool: PartitionWorkerPool,
    private readonly hooks: EngineHooks,
    private readonly log: Logger,
  ) {}

  static async start(config: EngineConfig, log: Logger, hooks: EngineHooks): Promise<Engine> {
    const router = checkSettings(config);
    const dataDir = openDataDir(config.dataDir, { partitions: config.partitions, stores: config.stores });
    const layout: Layout = { partitions: dataDir.partitions, stores: dataDir.stores };
    let stores: StoreSet | null = null;
    let acceptor: Acceptor | null = null;
    let engine!: Engine;
    try {
      stores = StoreSet.open(config.dataDir, layout);
      // Ring marks count records of rings that died with the previous process.
      stores.clearRingMarks();
      const mesh = createRingMesh(1, config.workers, config.ringBytes);
      const settledRecords = new SharedArrayBuffer(layout.partitions * Float64Array.BYTES_PER_ELEMENT);
      const workerStats = Array.from({ length: config.workers }, () => WorkerStats.create());
      // The engine exists before the acceptor serves its first request or reads its first report
      // (nothing yields in between).
      acceptor = Acceptor.create(
        {
          config,
          layout,
          links: mesh[0]!,
          recordsTaken: new Float64Array(layout.partitions),
          recordsSettled: new Float64Array(settledRecords),
          workerStats,
          stores,
          router,
          onFatal: (error) => engine.fail(error),
          reloadRoutes: (trigger) => engine.reloadRoutes(trigger),
          ...(hooks.producerExpiry === undefined ? {} : { producerExpiry: hooks.producerExpiry }),
        },
        log,
      );
      const tasks: PartitionWorkerTask[] = Array.from({ length: config.workers }, (_, worker) => ({
        worker,
        layout,
        ownedStores: storesOwnedBy(worker, config.workers, layout.stores),
        ownedPartitions: partitionsOwnedBy(worker, config.workers, layout),
        acceptors: linksOfWorker(mesh, worker),
        settledRecords,
        dataDir: config.dataDir,
        durability: config.durability,
        batchMaxEvents: config.batchMaxEvents,
        cacheKeys: Math.ceil(config.cacheKeys / config.workers),
        logLevel: config.logLevel,
        stats: workerStats[worker]!.buffer,
        logRetentionEvents: config.logRetentionEvents,
        logRetentionSeconds: config.logRetentionSeconds,
        ...(hooks.workerFault !== undefined && worker === 0 ? { fault: hooks.workerFault } : {}),
      }));
      // Listen first: if the port is taken, no worker thread has started yet.
      const port = await acceptor.listen();
      // A restarted loop cannot resend the change notices of a batch its predecessor committed:
      // subscribers are told they may have missed updates rather than left believing they are current.
      const pool = new PartitionWorkerPool(tasks, log, (error) => engine.fail(error), () => acceptor!.onWorkerRestart());
      pool.start();
      engine = new Engine(config, port, layout, dataDir, stores, acceptor, pool, hooks, log);
      acceptor.start();
      log.info(
        { host: config.host, port, tls: config.tlsCert !== undefined, partitions: layout.partitions, stores: layout.stores, workers: config.workers, durability: config.durability, created: dataDir.created },
        `listening on ${config.host}:${port}`,
      );
      return engine;
    } catch (error) {
      acceptor?.close(1001, 'engine failed to start');
      if (stores !== null) await stores.close();
      dataDir.unlock();
      throw error;
    }
  }

  /** The acceptor's idempotent producers (for tests and inspection). */
  get producers(): ProducerRegistry {
    return this.acceptor.producers;
  }

  /** The acceptor's subscriptions (for tests and inspection). */
  get subscriptions(): SubscriptionRegistry {
    return this.acceptor.subscriptions;
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
      this.acceptor.useRouter(new Router(routes));
      this.log.info({ trigger, file, routes: routes.routes.length }, 'routes reloaded');
      return { outcome: 'reloaded', file, routes: routes.routes.length };
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      this.log.error({ trigger, file, problems: error.problems }, 'routes reload refused: the file is invalid; the previous routes stay');
      return { outcome: 'invalid', file, problems: error.problems };
    }
  }

  /** Per-worker figures of the acceptor's rings: bytes in the ring, in the backlog now, the backlog's peak, notices received. */
  channelStats(): ReturnType<Acceptor['channelStats']> {
    return this.acceptor.channelStats();
  }

  /**
   * The engine cannot go on safely: it takes no more pubs, acks nothing more (a pub whose fate is
   * unknown gets no answer: its client re-sends it after reconnecting, and an idempotent producer's
   * re-send applies once), closes every connection with 1011, and calls the fatal hook.
   */
  fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.acceptor.fail(FAILED_CLOSE_CODE, 'the engine stopped after a fault; re-send unacknowledged pubs once it is back');
    this.hooks.onFatal(error);
  }

  /** Idempotent orderly stop; resolves when storage is closed. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const timeoutMs = this.config.shutdownTimeoutMs;
    this.log.info({ pending: this.acceptor.pending }, 'stopping: no new connections or pubs');
    if (!(await finishesWithin(this.acceptor.drain(), timeoutMs))) {
      this.log.error({ pending: this.acceptor.pending }, 'stopping: pubs still pending after the shutdown timeout');
    }
    this.acceptor.closeRings();
    if (!(await finishesWithin(this.pool.stop(), timeoutMs))) {
      this.log.error('stopping: partition workers did not finish in time; terminating them');
      await this.pool.destroy();
    }
    this.acceptor.close(1001, 'engine shutting down');
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
