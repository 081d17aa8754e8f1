// The control side of the engine (the main thread, never on the per-event path): settings, the data
// directory and its stores, the ring mesh, the partition workers and the acceptors and their
// supervision, the directory of idempotent producers, routes reloads, the whole engine's metrics,
// and the orderly stop (stop taking, finish and ack what was taken, close storage).
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, limitsOf, type EngineConfig, type KafkaConfig } from '../../shared/config.js';
import { advertisedUrl } from '../cluster/advertised-url.js';
import { OwnerDirectory } from '../cluster/owner-directory.js';
import type { Logger } from '../../shared/logger.js';
import { partitionsOwnedBy, storesOwnedBy, type Layout } from '../../shared/partition.js';
import { closeRing, isDrained, maxRecordPayload } from '../../shared/ring.js';
import { ProgressKind } from '../../shared/progress-record.js';
import { PartitionChannel } from '../ingest/partition-channel.js';
import type { AcceptorThreadData, ControlAsk } from '../acceptor/acceptor-messages.js';
import { StoreSet, storePath } from '../../shared/store.js';
import type { AcceptorLink, PartitionWorkerTask, WorkerFault } from '../../shared/worker-task.js';
import { openDataDir, type OpenedDataDir } from './data-dir.js';
import { EVENT_HEADER_BYTES } from '../../shared/event-record.js';
import { WorkerStats } from '../../shared/worker-stats.js';
import { TerminationGuard } from '../../shared/termination-guard.js';
import { tlsProblems } from '../http/tls.js';
import { mergeStats, type DashboardStats } from '../http/metrics.js';
import { ConnectionSlots } from '../http/connection-slots.js';
import { parseRoutes, readRoutesFile } from '../routes/routes-file.js';
import { AuthSourcesError, hasCredentialFiles, readAuthSources } from '../auth/auth-sources.js';
import type { AuthSources } from '../auth/authenticator.js';
import { describeProblem, RoutesError, type RoutesReload } from '../routes/routes.js';
import { pendingEvents, type AcceptorInspection, type ProducerExpiryTest } from '../acceptor/acceptor.js';
import { forgetIdleStored } from '../ingest/producers.js';
import { AcceptorHandle } from './acceptor-handle.js';
import { EngineMetrics } from './engine-metrics.js';
import { probePort } from './port-probe.js';
import { ProducerDirectory } from './producer-directory.js';
import { PartitionWorkerPool } from './worker-pool.js';
import { RestartBudget } from './restart-budget.js';
import { createLogLink, createRingMesh, linksOfWorker } from './ring-mesh.js';
import { checkCluster } from '../cluster/kafka-startup.js';
import { handleStrayKafkaRejections } from '../../shared/kafka-client.js';

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
/** Ports tried with HUNT_PORT=0 when another process takes the picked one first. */
const PORT_ATTEMPTS = 3;
/** How often producers that no acceptor holds are looked for in the stores (their TTL is HUNT_PRODUCER_TTL_S). */
const STORED_PRODUCER_EXPIRY_MS = 60 * 60 * 1000;

export class Engine {
  private failed = false;
  private stopped: Promise<void> | null = null;
  /** Current thread of each acceptor (null until started). */
  private readonly acceptors: (AcceptorHandle | null)[];
  /** Acceptor thread crashes tolerated before the engine stops. */
  private readonly acceptorBudget = new RestartBudget();
  /** Per crashed acceptor: its replacement, while it runs. */
  private readonly replacing = new Map<number, Promise<void>>();
  /** Per crashed acceptor: resolves once its rings are drained. */
  private readonly crashed = new Map<number, Promise<void>>();
  private workerRestarts = 0;
  private acceptorRestarts = 0;
  private readonly producers: ProducerDirectory;
  private readonly metrics: EngineMetrics | null;
  private readonly expiryTimer: NodeJS.Timeout;
  /** What each acceptor starts from (again, when it is replaced). */
  private readonly acceptorData: AcceptorThreadData[];
  /** Cluster mode: which host applies each partition, for the acceptors. */
  private ownerDirectory: OwnerDirectory | null = null;
  /** Each acceptor's open WebSockets (http/connection-slots.ts). */
  private readonly connectionCounts: SharedArrayBuffer;

  /** The port all acceptors listen on. */
  port: number;

  private constructor(
    readonly config: EngineConfig,
    /** The data directory's partitions and stores. */
    readonly layout: Layout,
    private readonly dataDir: OpenedDataDir,
    private readonly stores: StoreSet,
    /** links[acceptor][worker]. */
    private readonly mesh: AcceptorLink[][],
    checked: CheckedFiles,
    recordsTaken: Float64Array[],
    recordsSettled: Float64Array,
    workerStats: WorkerStats[],
    readonly pool: PartitionWorkerPool,
    private readonly hooks: EngineHooks,
    private readonly log: Logger,
    /** HUNT_PORT as set (0: any free port). */
    private readonly requestedPort: number,
  ) {
    const { acceptors } = config;
    this.port = config.port;
    this.connectionCounts = ConnectionSlots.create(acceptors);
    this.acceptors = Array.from({ length: acceptors }, () => null);
    this.acceptorData = mesh.map((links, acceptor) => ({
      acceptor,
      config,
      layout,
      links,
      workerInbound: mesh[0]!.map((_, worker) => linksOfWorker(mesh, worker).map((link) => link.inbound)),
      recordsTaken: recordsTaken.map((taken) => taken.buffer as SharedArrayBuffer),
      settledRecords: recordsSettled.buffer as SharedArrayBuffer,
      connectionCounts: this.connectionCounts,
      routesText: checked.routesText,
      auth: checked.auth,
      owners: null,
      ...(hooks.producerExpiry === undefined ? {} : { producerExpiry: hooks.producerExpiry }),
    }));
    this.producers = new ProducerDirectory(
      {
        release: (holder, name) => this.acceptorThread(holder).request({ op: 'release-producer', name }),
        drained: (holder) => this.crashed.get(holder) ?? null,
        expireIdle: () => this.expireProducers(Date.now()).then(() => undefined),
      },
      config.maxProducers,
    );
    this.metrics = config.metrics
      ? new EngineMetrics({
          restarts: () => ({ workers: this.workerRestarts, acceptors: this.acceptorRestarts }),
          partitionLags: () => Array.from({ length: layout.partitions }, (_, partition) => ({ partition, lag: pendingEvents(recordsTaken, recordsSettled, partition) })),
          workerStats,
          cluster: config.kafka !== undefined,
          dataFiles: Array.from({ length: layout.stores }, (_, s) => `${storePath(config.dataDir, s)}/data.mdb`),
        })
      : null;
    const expiry = hooks.producerExpiry ?? { intervalMs: STORED_PRODUCER_EXPIRY_MS, aheadMs: 0 };
    this.expiryTimer = setInterval(() => this.forgetIdleUnheld(Date.now() + expiry.aheadMs), expiry.intervalMs).unref();
  }

  static async start(config: EngineConfig, log: Logger, hooks: EngineHooks): Promise<Engine> {
    const checked = checkSettings(config);
    const dataDir = openDataDir(config.dataDir, { partitions: config.partitions, stores: config.stores }, config.workers);
    const layout: Layout = { partitions: dataDir.partitions, stores: dataDir.stores };
    let stores: StoreSet | null = null;
    let engine: Engine | null = null;
    try {
      stores = StoreSet.open(config.dataDir, layout);
      // Ring marks count records of rings that died with the previous process.
      stores.clearRingMarks();
      forgetIdleStored(stores, Date.now(), config.producerTtlSeconds * 1000, () => false);
      // Before any thread starts: a port another process holds fails the start here.
      const port = await probePort(config.host, config.port);
      // Stable across restarts of this engine, so its own members that a crash left in the group are its own.
      const host = `${os.hostname()}:${config.dataDir}`;
      if (config.kafka !== undefined) {
        handleStrayKafkaRejections(log);
        await checkCluster(config.kafka, layout, config.maxPayloadBytes, host, log);
      }
      const mesh = createRingMesh(config.acceptors, config.workers, config.ringBytes);
      const perPartition = () => new Float64Array(new SharedArrayBuffer(layout.partitions * Float64Array.BYTES_PER_ELEMENT));
      const recordsTaken = mesh.map(perPartition);
      const recordsSettled = perPartition();
      const workerStats = Array.from({ length: config.workers }, () => WorkerStats.create());
      const tasks: PartitionWorkerTask[] = Array.from({ length: config.workers }, (_, worker) => ({
        worker,
        layout,
        ownedStores: storesOwnedBy(worker, config.workers, layout.stores),
        ownedPartitions: partitionsOwnedBy(worker, config.workers, layout),
        acceptors: linksOfWorker(mesh, worker),
        settledRecords: recordsSettled.buffer as SharedArrayBuffer,
        dataDir: config.dataDir,
        durability: config.durability,
        batchMaxEvents: config.batchMaxEvents,
        cacheKeys: Math.ceil(config.cacheKeys / config.workers),
        terminationGuard: TerminationGuard.create(),
        logLevel: config.logLevel,
        stats: workerStats[worker]!.buffer,
        logRetentionEvents: config.logRetentionEvents,
        logRetentionSeconds: config.logRetentionSeconds,
        ...(hooks.workerFault !== undefined && worker === 0 ? { fault: hooks.workerFault } : {}),
        ...(config.kafka === undefined ? {} : { cluster: { kafka: config.kafka, logLink: createLogLink(config.ringBytes), host, url: '', workers: config.workers, limits: limitsOf(config), routes: config.routes !== undefined } }),
      }));
      // A restarted loop cannot resend the change notices of a batch its predecessor committed:
      // subscribers are told they may have missed updates rather than left believing they are current.
      const pool = new PartitionWorkerPool(tasks, log, (error) => engine!.fail(error), () => engine!.onWorkerRestart());
      engine = new Engine({ ...config, port }, layout, dataDir, stores, mesh, checked, recordsTaken, recordsSettled, workerStats, pool, hooks, log, config.port);
      await engine.listen();
      // The workers join the group with the URL clients reach this host at, known once it listens.
      const url = advertisedUrl(config, engine.port);
      for (const task of tasks) if (task.cluster !== undefined) task.cluster.url = url;
      pool.start();
      if (config.kafka !== undefined) await engine.followOwners(config.kafka, host, url);
      await Promise.all(engine.acceptors.map((acceptor) => acceptor!.request({ op: 'start' })));
      if (engine.failed) throw new Error('the engine failed while it started');
      log.info(
        { host: config.host, port: engine.port, tls: config.tlsCert !== undefined, partitions: layout.partitions, stores: layout.stores, workers: config.workers, acceptors: config.acceptors, durability: config.durability, created: dataDir.created },
        `listening on ${config.host}:${engine.port}`,
      );
      return engine;
    } catch (error) {
      if (engine !== null) await engine.abortStart();
      else if (stores !== null) await stores.close();
      dataDir.unlock();
      throw error;
    }
  }

  /**
   * Starts every acceptor on the probed port. With HUNT_PORT=0 another process may take the port
   * the probe picked before the first acceptor binds it: then a new one is picked.
   */
  private async listen(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.launchAcceptor(0);
        break;
      } catch (error) {
        if (this.requestedPort !== 0 || attempt === PORT_ATTEMPTS) throw error;
        this.port = await probePort(this.config.host, 0);
        for (const data of this.acceptorData) data.config = { ...data.config, port: this.port };
      }
    }
    await Promise.all(this.acceptorData.slice(1).map((data) => this.launchAcceptor(data.acceptor)));
  }

  /** Starts acceptor `acceptor`'s thread (again, after a crash) and resolves once it listens. */
  private async launchAcceptor(acceptor: number): Promise<AcceptorHandle> {
    const handle = await AcceptorHandle.start(this.acceptorData[acceptor]!, this.log, {
      onFatal: (error) => this.fail(error),
      onCrash: (code) => this.replaceAcceptor(acceptor, code),
      onAsk: (ask) => this.answer(acceptor, ask),
      onProducersForgotten: (names) => this.producers.forgotten(acceptor, names),
    });
    this.acceptors[acceptor] = handle;
    return handle;
  }

  /** Cluster mode: keeps the acceptors told which host applies each partition. */
  private async followOwners(kafka: KafkaConfig, host: string, url: string): Promise<void> {
    this.ownerDirectory = new OwnerDirectory(kafka, this.layout.partitions, host, url, this.log, (owners) => {
      for (const data of this.acceptorData) data.owners = owners;
      for (const acceptor of this.running()) acceptor.send({ op: 'partition-owners', owners });
    });
    await this.ownerDirectory.start();
  }

  /** A start that failed: every thread started is ended, storage closed (the data directory stays locked). */
  private async abortStart(): Promise<void> {
    // No replacement of a crashed acceptor for an engine that did not start.
    this.failed = true;
    clearInterval(this.expiryTimer);
    await this.ownerDirectory?.stop();
    await this.closeAcceptors(1001, 'engine failed to start');
    await this.pool.destroy();
    await this.stores.close();
  }

  private acceptorThread(acceptor: number): AcceptorHandle {
    const handle = this.acceptors[acceptor];
    if (handle === null || handle === undefined) throw new Error(`acceptor ${acceptor} has not started`);
    return handle;
  }

  /** The acceptors whose threads are running. */
  private running(): AcceptorHandle[] {
    return this.acceptors.filter((handle): handle is AcceptorHandle => handle !== null && !handle.ended);
  }

  private answer(acceptor: number, ask: ControlAsk): Promise<unknown> {
    switch (ask.op) {
      case 'claim-producer':
        return this.producers.claim(ask.name, acceptor);
      case 'metrics':
        return this.metricsText();
      case 'stats':
        return this.stats();
      case 'reload-routes':
        return this.reloadRoutes(ask.trigger);
    }
  }

  private onWorkerRestart(): void {
    this.workerRestarts++;
    for (const acceptor of this.running()) acceptor.send({ op: 'worker-restarted' });
  }

  /**
   * Acceptor `acceptor`'s thread ended unasked (an uncaught error; it closed its sockets, so its
   * clients saw their connections close). A new one takes its rings once the workers have applied
   * everything the old one published: the producers it held are then loaded from what is
   * committed, so their re-sends apply once. Crashing too often stops the engine.
   */
  replaceAcceptor(acceptor: number, code: number): void {
    if (this.failed || this.stopped !== null) return;
    const replacing = this.replacing.get(acceptor);
    if (replacing !== undefined) {
      // The replacement crashed too, once it listened but before its replacing was over: it is
      // replaced in turn when that is over (the handle that ended is the current one then).
      void replacing.then(() => {
        if (this.acceptors[acceptor]?.ended === true) this.replaceAcceptor(acceptor, code);
      });
      return;
    }
    const spent = this.acceptorBudget.spend('an acceptor thread ended');
    if (spent !== null) {
      this.fail(new Error(spent));
      return;
    }
    this.log.error({ code, acceptor }, 'acceptor thread ended; replacing it once the workers applied what it took');
    // Its sockets closed with it.
    Atomics.store(new Int32Array(this.connectionCounts), acceptor, 0);
    const drained = this.drainRings(acceptor).then(() => this.producers.dropHolder(acceptor));
    this.crashed.set(acceptor, drained);
    const replaced = drained
      .then(async () => {
        this.crashed.delete(acceptor);
        if (this.failed || this.stopped !== null) return;
        await (await this.launchAcceptor(acceptor)).request({ op: 'start' });
        this.acceptorRestarts++;
        this.log.info({ port: this.port, acceptor }, 'acceptor thread replaced');
      })
      .catch((error: Error) => this.fail(new Error(`acceptor thread ${acceptor} could not be replaced: ${error.message}`)))
      .finally(() => this.replacing.delete(acceptor));
    this.replacing.set(acceptor, replaced);
  }

  /** Resolves once the workers have released everything crashed acceptor `acceptor` published. */
  private async drainRings(acceptor: number): Promise<void> {
    const links = this.mesh[acceptor]!;
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
  }

  /** Acceptor threads replaced since start. */
  get acceptorRestartCount(): number {
    return this.acceptorRestarts;
  }

  /**
   * Re-reads HUNT_ROUTES (on SIGHUP or POST /v1/admin/reload-routes, `trigger`). A valid file
   * reaches every acceptor, each switching between two of its frames (every event is routed wholly
   * by the old or by the new routes); an invalid one is logged and the old routes stay everywhere.
   */
  async reloadRoutes(trigger: string): Promise<RoutesReload> {
    const file = this.config.routes;
    if (file === undefined) {
      this.log.warn({ trigger }, 'routes reload asked for, but HUNT_ROUTES is not set');
      return { outcome: 'no-file' };
    }
    let text: string;
    let routes: number;
    try {
      text = readRoutesFile(file);
      routes = parseRoutes(file, text).routes.length;
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      this.log.error({ trigger, file, problems: error.problems }, 'routes reload refused: the file is invalid; the previous routes stay');
      return { outcome: 'invalid', file, problems: error.problems };
    }
    // A replacement acceptor starts with these routes too.
    for (const data of this.acceptorData) data.routesText = text;
    await Promise.all(this.running().map((acceptor) => acceptor.request({ op: 'reload-routes', trigger, text })));
    this.log.info({ trigger, file, routes }, 'routes reloaded');
    return { outcome: 'reloaded', file, routes };
  }

  /**
   * Re-reads HUNT_AUTH_FILE and the JWT key files (on SIGHUP). Valid files reach every acceptor,
   * which re-checks its open connections: one whose static token is gone is closed with 4004, the
   * others get their token's new scopes. Invalid files are logged and the previous credentials stay.
   */
  async reloadAuth(trigger: string): Promise<boolean> {
    const { config } = this;
    if (!hasCredentialFiles(config)) return false;
    let auth: AuthSources;
    try {
      auth = readAuthSources(config);
    } catch (error) {
      if (!(error instanceof AuthSourcesError)) throw error;
      this.log.error({ trigger, problems: error.problems }, 'credentials reload refused: the previous tokens and keys stay');
      return false;
    }
    for (const data of this.acceptorData) data.auth = auth;
    await Promise.all(this.running().map((acceptor) => acceptor.request({ op: 'reload-auth', auth })));
    this.log.info({ trigger, authFile: config.authFile, jwtSecretFile: config.jwtSecretFile, jwtJwksFile: config.jwtJwksFile }, 'credentials reloaded');
    return true;
  }

  /** Each running acceptor's rings, connections, subscribers and producers, in acceptor order (one being replaced is left out). */
  async inspectAcceptors(): Promise<AcceptorInspection[]> {
    // One that ends while asked is left out too.
    const parts = await Promise.all(this.running().map((acceptor) => acceptor.request({ op: 'inspect' }).catch(() => null)));
    return parts.filter((part): part is AcceptorInspection => part !== null);
  }

  /** The acceptors' inspections summed (the backlog peak: the highest; acceptor: -1). */
  async inspect(): Promise<AcceptorInspection> {
    const parts = await this.inspectAcceptors();
    const channels = parts[0]!.channels.map((channel) => ({ ...channel, ringBytes: 0, backlogBytes: 0, peakBacklogBytes: 0, notices: 0 }));
    for (const part of parts) {
      part.channels.forEach((c, worker) => {
        const sum = channels[worker]!;
        sum.ringBytes += c.ringBytes;
        sum.backlogBytes += c.backlogBytes;
        sum.peakBacklogBytes = Math.max(sum.peakBacklogBytes, c.peakBacklogBytes);
        sum.notices += c.notices;
      });
    }
    const sum = (pick: (part: AcceptorInspection) => number) => parts.reduce((n, part) => n + pick(part), 0);
    return { acceptor: -1, channels, connections: sum((p) => p.connections), subscribers: sum((p) => p.subscribers), producers: sum((p) => p.producers) };
  }

  /**
   * Forgets the producers idle at `nowMs`, as the periodic expiry does: those the acceptors hold,
   * and those in the stores that none holds; resolves with how many.
   */
  async expireProducers(nowMs: number): Promise<number> {
    let forgotten = 0;
    await Promise.all(
      this.acceptors.map(async (handle, acceptor) => {
        if (handle === null || handle.ended) return;
        const names = await handle.request({ op: 'expire-producers', nowMs });
        this.producers.forgotten(acceptor, names);
        forgotten += names.length;
      }),
    );
    return forgotten + this.forgetIdleUnheld(nowMs);
  }

  /** Forgets, in the stores, the idle producers no acceptor holds; returns how many. */
  private forgetIdleUnheld(nowMs: number): number {
    if (this.stopped !== null || this.failed) return 0;
    return forgetIdleStored(this.stores, nowMs, this.config.producerTtlSeconds * 1000, (name) => this.producers.has(name));
  }

  /** Prometheus text of the whole engine (any acceptor's GET /metrics). */
  private async metricsText(): Promise<string> {
    const parts = await Promise.all(this.running().map((acceptor) => acceptor.request({ op: 'metrics' })));
    return this.metrics!.text(parts);
  }

  /** The dashboard's figures of the whole engine (any acceptor's GET /v1/stats). */
  private async stats(): Promise<DashboardStats> {
    return mergeStats(await Promise.all(this.running().map((acceptor) => acceptor.request({ op: 'stats' }))));
  }

  /**
   * The engine cannot go on safely: it takes no more pubs, acks nothing more (a pub whose fate is
   * unknown gets no answer: its client re-sends it after reconnecting, and an idempotent producer's
   * re-send applies once), closes every connection with 1011, and calls the fatal hook.
   */
  fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    void this.closeAcceptors(FAILED_CLOSE_CODE, 'the engine stopped after a fault; re-send unacknowledged pubs once it is back', true).then(() => this.hooks.onFatal(error));
  }

  /** Tests only: an uncaught error in acceptor `acceptor`'s thread. */
  faultAcceptor(acceptor = 0): void {
    this.acceptorThread(acceptor).send({ op: 'fault' });
  }

  /** Closes every connection (1001) and the acceptors at once, so that the process may exit now. */
  async abandon(): Promise<void> {
    await this.closeAcceptors(1001, 'engine shutting down');
  }

  private async closeAcceptors(code: number, reason: string, failed = false): Promise<void> {
    await Promise.all(this.acceptors.map((acceptor) => acceptor?.close(code, reason, failed)));
  }

  /** Idempotent orderly stop; resolves when storage is closed. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const timeoutMs = this.config.shutdownTimeoutMs;
    clearInterval(this.expiryTimer);
    await this.ownerDirectory?.stop().catch(() => undefined);
    // Asked at once (no await before unless a replacement runs): a request that reaches an acceptor
    // after stop() returned is answered as by a stopping engine.
    if (this.replacing.size > 0) await Promise.all(this.replacing.values());
    this.log.info('stopping: no new connections or pubs');
    const drained = Promise.all(this.running().map((acceptor) => acceptor.request({ op: 'drain' }).catch(() => null)));
    if (!this.failed && !(await finishesWithin(drained, timeoutMs))) {
      this.log.error('stopping: pubs still pending after the shutdown timeout');
    }
    // Nothing more will come: each worker finishes what its rings hold, then returns.
    for (const links of this.mesh) for (const link of links) closeRing(link.inbound);
    if (!(await finishesWithin(this.pool.stop(), timeoutMs))) {
      this.log.error('stopping: partition workers did not finish in time; terminating them');
      await this.pool.destroy();
    }
    await this.closeAcceptors(1001, 'engine shutting down');
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
 * at once. Returns the routes file's text (null: HUNT_ROUTES unset).
 */
/** The files the settings name, read and checked before any thread starts. */
interface CheckedFiles {
  routesText: string | null;
  auth: AuthSources;
}

function checkSettings(config: EngineConfig): CheckedFiles {
  const problems: string[] = [];
  let routesText: string | null = null;
  if (config.routes !== undefined) {
    try {
      routesText = readRoutesFile(config.routes);
      parseRoutes(config.routes, routesText);
    } catch (error) {
      if (!(error instanceof RoutesError)) throw error;
      for (const p of error.problems) problems.push(`HUNT_ROUTES=${JSON.stringify(config.routes)} is invalid: ${describeProblem(p)}`);
    }
  }
  let auth: AuthSources | null = null;
  try {
    auth = readAuthSources(config);
  } catch (error) {
    if (!(error instanceof AuthSourcesError)) throw error;
    problems.push(...error.problems);
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
  return { routesText, auth: auth! };
}
