// The control side of the engine (the main thread, never on the per-event path): settings, the data
// directory and its stores, the ring mesh, the partition workers and their supervision, the
// acceptor, routes reloads, and the orderly stop (stop taking, finish and ack what was taken, close
// storage).
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, type EngineConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { partitionsOwnedBy, storesOwnedBy, type Layout } from '../../shared/partition.js';
import { closeRing, isDrained, maxRecordPayload } from '../../shared/ring.js';
import { ProgressKind } from '../../shared/progress-record.js';
import { PartitionChannel } from '../ingest/partition-channel.js';
import type { AcceptorThreadData } from '../acceptor/acceptor-messages.js';
import { StoreSet } from '../../shared/store.js';
import type { PartitionWorkerTask, WorkerFault } from '../../shared/worker-task.js';
import { openDataDir, type OpenedDataDir } from './data-dir.js';
import { EVENT_HEADER_BYTES } from '../../shared/event-record.js';
import { WorkerStats } from '../../shared/worker-stats.js';
import { tlsProblems } from '../http/tls.js';
import { loadRoutes } from '../routes/routes-file.js';
import { describeProblem, RoutesError, type RoutesReload } from '../routes/routes.js';
import type { AcceptorInspection, ProducerExpiryTest } from '../acceptor/acceptor.js';
import { AcceptorHandle } from './acceptor-handle.js';
import { PartitionWorkerPool } from './worker-pool.js';
import { RestartBudget } from './restart-budget.js';
import { createRingMesh, linksOfWorker } from './ring-mesh.js';

export interface EngineHooks {
  /**
   * Called when the engine cannot go on safely (a worker keeps dying, a storage fault), after it
   * stopped taking pubs and acking and closed every connection (1011); `npm start` exits with 1.
   */
  onFatal(error: Error): void;
  /** Tests only: kill worker 0's thread once at a chosen point of a batch. */
  workerFault?: WorkerFault;
  /** Tests only: how often idle producers are looked for, and how far ahead of the clock expiry reads. */
  producerExpiry?: ProducerExpiryTest;
}

/** WebSocket close code when the engine stops after a fault (RFC 6455: an unexpected condition). */
export const FAILED_CLOSE_CODE = 1011;

const DRAIN_POLL_MS = 5;
// Slots of the restart counts (AcceptorThreadData.restarts).
const WORKER_RESTARTS = 0;
const ACCEPTOR_RESTARTS = 1;

export class Engine {
  private failed = false;
  private stopped: Promise<void> | null = null;
  /** Acceptor thread crashes tolerated before the engine stops. */
  private readonly acceptorBudget = new RestartBudget();
  /** The replacement of a crashed acceptor, while it runs. */
  private replacing: Promise<void> | null = null;

  private constructor(
    readonly config: EngineConfig,
    readonly port: number,
    /** The data directory's partitions and stores. */
    readonly layout: Layout,
    private readonly dataDir: OpenedDataDir,
    private readonly stores: StoreSet,
    /** What the acceptor thread starts from (again, when it is replaced). */
    private readonly acceptorData: AcceptorThreadData,
    private acceptor: AcceptorHandle,
    /** [worker restarts, acceptor restarts] (AcceptorThreadData.restarts). */
    private readonly restarts: Float64Array,
    readonly pool: PartitionWorkerPool,
    private readonly hooks: EngineHooks,
    private readonly log: Logger,
  ) {}

  static async start(config: EngineConfig, log: Logger, hooks: EngineHooks): Promise<Engine> {
    checkSettings(config);
    const dataDir = openDataDir(config.dataDir, { partitions: config.partitions, stores: config.stores });
    const layout: Layout = { partitions: dataDir.partitions, stores: dataDir.stores };
    let stores: StoreSet | null = null;
    let engine: Engine | null = null;
    let acceptor: AcceptorHandle | null = null;
    let pool: PartitionWorkerPool | null = null;
    // Faults reported before the engine exists fail its start instead.
    let earlyFault: Error | null = null;
    const onFatal = (error: Error) => {
      if (engine === null) earlyFault ??= error;
      else engine.fail(error);
    };
    const onCrash = (code: number) => {
      if (engine === null) earlyFault ??= new Error(`the acceptor thread ended with ${code} while the engine started`);
      else engine.replaceAcceptor(code);
    };
    try {
      stores = StoreSet.open(config.dataDir, layout);
      // Ring marks count records of rings that died with the previous process.
      stores.clearRingMarks();
      const mesh = createRingMesh(1, config.workers, config.ringBytes);
      const settledRecords = new SharedArrayBuffer(layout.partitions * Float64Array.BYTES_PER_ELEMENT);
      const workerStats = Array.from({ length: config.workers }, () => WorkerStats.create());
      // Listen first: if the port is taken, no worker thread has started yet.
      const acceptorData: AcceptorThreadData = {
        acceptor: 0,
        config,
        layout,
        links: mesh[0]!,
        recordsTaken: new SharedArrayBuffer(layout.partitions * Float64Array.BYTES_PER_ELEMENT),
        settledRecords,
        workerStats: workerStats.map((stats) => stats.buffer),
        restarts: new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT),
        ...(hooks.producerExpiry === undefined ? {} : { producerExpiry: hooks.producerExpiry }),
      };
      acceptor = await AcceptorHandle.start(acceptorData, log, onFatal, onCrash);
      // A replacement listens on the port this one got (HUNT_PORT may be 0).
      acceptorData.config = { ...config, port: acceptor.port };
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
      // A restarted loop cannot resend the change notices of a batch its predecessor committed:
      // subscribers are told they may have missed updates rather than left believing they are current.
      const restarts = new Float64Array(acceptorData.restarts);
      pool = new PartitionWorkerPool(tasks, log, onFatal, () => {
        restarts[WORKER_RESTARTS]++;
        engine?.acceptor.send({ op: 'worker-restarted' });
      });
      pool.start();
      engine = new Engine(config, acceptor.port, layout, dataDir, stores, acceptorData, acceptor, restarts, pool, hooks, log);
      await acceptor.request({ op: 'start' });
      if (earlyFault !== null) engine.fail(earlyFault);
      log.info(
        { host: config.host, port: acceptor.port, tls: config.tlsCert !== undefined, partitions: layout.partitions, stores: layout.stores, workers: config.workers, durability: config.durability, created: dataDir.created },
        `listening on ${config.host}:${acceptor.port}`,
      );
      return engine;
    } catch (error) {
      // No replacement of a crashed acceptor for an engine that did not start.
      if (engine !== null) engine.failed = true;
      await acceptor?.close(1001, 'engine failed to start');
      await pool?.destroy();
      if (stores !== null) await stores.close();
      dataDir.unlock();
      throw error;
    }
  }

  /**
   * The acceptor thread ended unasked (an uncaught error; it closed its sockets, so its clients
   * saw their connections close). A new one takes its rings once the workers have applied
   * everything the old one published: it then loads the idempotent producers' marks from what
   * is committed, so their re-sends apply once. Crashing too often stops the engine.
   */
  replaceAcceptor(code: number): void {
    if (this.failed || this.stopped !== null || this.replacing !== null) return;
    const spent = this.acceptorBudget.spend('the acceptor thread ended');
    if (spent !== null) {
      this.fail(new Error(spent));
      return;
    }
    this.log.error({ code }, 'acceptor thread ended; replacing it once the workers applied what it took');
    this.replacing = this.startReplacement().then(
      () => {
        this.replacing = null;
      },
      (error: Error) => {
        this.replacing = null;
        this.fail(new Error(`the acceptor thread could not be replaced: ${error.message}`));
      },
    );
  }

  private async startReplacement(): Promise<void> {
    const links = this.acceptorData.links;
    // Its progress reports are read (and dropped: nobody waits for them) so no worker blocks on
    // a full outbound ring meanwhile; a Fatal one still stops the engine.
    const channels = links.map((link, worker) => new PartitionChannel(worker, link));
    const readReports = () => {
      for (const channel of channels) {
        channel.readProgress(
          (report) => {
            if (report.kind === ProgressKind.Fatal) this.fail(new Error(`partition worker ${channel.worker}: ${report.message}`));
          },
          () => {},
        );
      }
    };
    while (!links.every((link) => isDrained(link.inbound))) {
      readReports();
      if (this.failed || this.stopped !== null) return;
      await sleep(DRAIN_POLL_MS);
    }
    readReports();
    this.acceptor = await AcceptorHandle.start(
      this.acceptorData,
      this.log,
      (error) => this.fail(error),
      (code) => this.replaceAcceptor(code),
    );
    await this.acceptor.request({ op: 'start' });
    this.restarts[ACCEPTOR_RESTARTS]++;
    this.log.info({ port: this.port }, 'acceptor thread replaced');
  }

  /** Acceptor threads replaced since start. */
  get acceptorRestartCount(): number {
    return this.restarts[ACCEPTOR_RESTARTS]!;
  }

  /** Re-reads HUNT_ROUTES (on SIGHUP, `trigger`); see Acceptor.reloadRoutes. */
  reloadRoutes(trigger: string): Promise<RoutesReload> {
    return this.acceptor.request({ op: 'reload-routes', trigger });
  }

  /** The acceptor's rings, subscribers and producers (for tests and inspection). */
  inspect(): Promise<AcceptorInspection> {
    return this.acceptor.request({ op: 'inspect' });
  }

  /** Forgets the producers idle at `nowMs`, as the hourly expiry does; resolves with how many. */
  expireProducers(nowMs: number): Promise<number> {
    return this.acceptor.request({ op: 'expire-producers', nowMs });
  }

  /**
   * The engine cannot go on safely: it takes no more pubs, acks nothing more (a pub whose fate is
   * unknown gets no answer: its client re-sends it after reconnecting, and an idempotent producer's
   * re-send applies once), closes every connection with 1011, and calls the fatal hook.
   */
  fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    void this.acceptor.close(FAILED_CLOSE_CODE, 'the engine stopped after a fault; re-send unacknowledged pubs once it is back', true).then(() => this.hooks.onFatal(error));
  }

  /** Tests only: an uncaught error in the acceptor thread. */
  faultAcceptor(): void {
    this.acceptor.send({ op: 'fault' });
  }

  /** Closes every connection (1001) and the acceptor at once, so that the process may exit now. */
  abandon(): Promise<number> {
    return this.acceptor.close(1001, 'engine shutting down');
  }

  /** Idempotent orderly stop; resolves when storage is closed. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const timeoutMs = this.config.shutdownTimeoutMs;
    if (this.replacing !== null) await this.replacing;
    this.log.info('stopping: no new connections or pubs');
    if (!this.failed && !this.acceptor.ended && !(await finishesWithin(this.acceptor.request({ op: 'drain' }).catch(() => null), timeoutMs))) {
      this.log.error('stopping: pubs still pending after the shutdown timeout');
    }
    // Nothing more will come: each worker finishes what its rings hold, then returns.
    for (const link of this.acceptorData.links) closeRing(link.inbound);
    if (!(await finishesWithin(this.pool.stop(), timeoutMs))) {
      this.log.error('stopping: partition workers did not finish in time; terminating them');
      await this.pool.destroy();
    }
    await this.acceptor.close(1001, 'engine shutting down');
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

/** Settings that are valid alone but not together, the TLS files and the routes file; every problem at once. */
function checkSettings(config: EngineConfig): void {
  const problems: string[] = [];
  if (config.routes !== undefined) {
    try {
      loadRoutes(config.routes);
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
}
