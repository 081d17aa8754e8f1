// An acceptor: the front end of the connections it accepts, end to end. Its uWS app (stream and
// HTTP, on the port all acceptors share), validation and routes, its rings to every partition
// worker, ack tracking, the idempotent producers it holds, subscriptions, replay and follows, and
// its metrics. The control side (control/engine.ts) creates the rings, starts and supervises the
// workers and acceptors, hands producers between acceptors, merges metrics, and stops in order.
import { Ownership, type PartitionOwners } from '../cluster/ownership.js';
import { limitsOf, redactedConfig, type EngineConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { ownerOf, partitionOf, storeOf, type Layout } from '../../shared/partition.js';
import type { StoreSet } from '../../shared/store.js';
import type { AcceptorLink } from '../../shared/worker-task.js';
import { decodeMeta } from '../../shared/meta-codec.js';
import { ProgressKind, type ProgressRecord } from '../../shared/progress-record.js';
import { retainedRange } from '../../shared/event-log.js';
import { AckTracker } from '../ingest/ack-tracker.js';
import { Ingest } from '../ingest/ingest.js';
import { PartitionChannel } from '../ingest/partition-channel.js';
import { usedBytesOf, type RingBuffers } from '../../shared/ring.js';
import { ProducerRegistry } from '../ingest/producers.js';
import { MessageHandler } from '../connections/message-handler.js';
import { AuthGate } from '../auth/auth-gate.js';
import type { AuthSources } from '../auth/authenticator.js';
import { AcceptorMetrics, type DashboardStats, type MetricsJson, type StatsPart } from '../http/metrics.js';
import { FrontEndServer } from '../http/server.js';
import { ConnectionSlots } from '../http/connection-slots.js';
import type { PartitionInfo } from '../http/listings.js';
import { SubscriptionRegistry } from '../streams/subscriptions.js';
import { LogFollows } from '../streams/log-follows.js';
import { Router } from '../routes/router.js';
import { parseRoutes } from '../routes/routes-file.js';
import type { RoutesReload } from '../routes/routes.js';
import type { ProducerClaim, ProducerMarks } from './acceptor-messages.js';

const PROGRESS_WAIT_MS = 1000;
/** How often a producer's release checks that what it sent here is settled. */
const SETTLED_POLL_MS = 1;
/** How often idle producers are looked for (their TTL is HUNT_PRODUCER_TTL_S). */
const PRODUCER_EXPIRY_INTERVAL_MS = 60 * 60 * 1000;

export interface AcceptorOptions {
  /** This acceptor's index. */
  acceptor: number;
  config: EngineConfig;
  layout: Layout;
  /** This acceptor's rings with each worker (index = worker) and its interest flags. */
  links: AcceptorLink[];
  /** Every acceptor's inbound ring to each worker, [worker][acceptor]: read for ring depths only. */
  workerInbound: RingBuffers[][];
  /** Per acceptor (index = acceptor), per partition: records it wrote for it; this one writes its own. */
  recordsTaken: Float64Array[];
  /** Per partition: records its worker settled (written by the workers). */
  recordsSettled: Float64Array;
  /** Int32Array per acceptor: its open WebSockets (http/connection-slots.ts). */
  connectionCounts: SharedArrayBuffer;
  stores: StoreSet;
  router: Router | null;
  /** The credentials as the control thread read and checked them. */
  auth: AuthSources;
  /** Cluster mode: which host applies each partition, as last seen (null: one host, or not seen yet). */
  owners: PartitionOwners | null;
  control: ControlLink;
  /** The engine cannot go on safely (a worker reported Fatal). */
  onFatal(error: Error): void;
  /** Tests only: how often idle producers are looked for, and how far ahead of the clock expiry reads. */
  producerExpiry?: ProducerExpiryTest;
}

/** What an acceptor asks of the control thread (acceptor-messages.ts). */
export interface ControlLink {
  claimProducer(name: string): Promise<ProducerClaim>;
  /** Producers this acceptor forgot on its own (idle past the TTL). */
  producersForgotten(names: string[]): void;
  /** The whole engine's metrics (Prometheus text) and dashboard figures. */
  metrics(): Promise<string>;
  stats(): Promise<DashboardStats>;
  /** Reloads the routes of every acceptor. */
  reloadRoutes(trigger: string): Promise<RoutesReload>;
}

export interface ProducerExpiryTest {
  intervalMs: number;
  aheadMs: number;
}

/** What an acceptor shows of itself (for tests and inspection). */
export interface AcceptorInspection {
  acceptor: number;
  /** Per worker: bytes in the ring, in the backlog now, the backlog's peak, notices received. */
  channels: { worker: number; ringBytes: number; backlogBytes: number; peakBacklogBytes: number; notices: number }[];
  connections: number;
  subscribers: number;
  producers: number;
}

export class Acceptor {
  private pumping = true;
  private failed = false;
  private readonly expiryTimer: NodeJS.Timeout;
  /** Route matches of routes replaced by a reload, so the counters never go back. */
  private readonly retiredRouteMatches = new Map<string, number>();

  private constructor(
    private readonly channels: PartitionChannel[],
    private readonly tracker: AckTracker,
    private readonly ingest: Ingest,
    private readonly server: FrontEndServer,
    private readonly producers: ProducerRegistry,
    private readonly subscriptions: SubscriptionRegistry,
    private readonly follows: LogFollows,
    private readonly gate: AuthGate,
    private readonly ownership: Ownership,
    private readonly options: AcceptorOptions,
    private readonly metrics: AcceptorMetrics | null,
  ) {
    const expiry = options.producerExpiry ?? { intervalMs: PRODUCER_EXPIRY_INTERVAL_MS, aheadMs: 0 };
    this.expiryTimer = setInterval(() => {
      const forgotten = producers.expire(Date.now() + expiry.aheadMs);
      if (forgotten.length > 0) options.control.producersForgotten(forgotten);
    }, expiry.intervalMs).unref();
  }

  /** Builds the acceptor; it serves nothing until listen() and start(). */
  static create(options: AcceptorOptions, log: Logger): Acceptor {
    const { config, layout, stores, recordsTaken, recordsSettled, control } = options;
    const { partitions } = layout;
    const limits = limitsOf(config);
    const channels = options.links.map((link, worker) => new PartitionChannel(worker, link));
    const tracker = new AckTracker(channels.length);
    // The backlog bound is dealt out: each acceptor holds at most its share.
    const backlogShare = Math.ceil(config.maxBacklogBytes / config.acceptors);
    const ingest = new Ingest(channels, recordsTaken[options.acceptor]!, tracker, { ...limits, layout, maxBacklogBytes: backlogShare });
    ingest.router = options.router;
    const producers = new ProducerRegistry(stores, config.producerTtlSeconds * 1000, log);
    const subscriptions = new SubscriptionRegistry(options.links[0]!.interest, { maxPerConnection: config.maxSubscriptions, maxLagBytes: config.subscriberMaxLagBytes });
    // Follows pause at the same unsent-bytes mark where a subscriber would be dropped.
    const follows = new LogFollows(stores, options.links[0]!.interest, channels.length, (p) => ownerOf(p, layout, channels.length), { maxPerConnection: config.maxSubscriptions, maxBufferedBytes: config.subscriberMaxLagBytes }, log);
    let acceptor: Acceptor | null = null;
    let server: FrontEndServer | null = null;
    const metrics = config.metrics
      ? new AcceptorMetrics({
          connections: () => server?.connectionCount ?? 0,
          pubsInFlight: () => tracker.pending,
          channels: () => channels.map((c) => ({ worker: c.worker, ringBytes: c.ringDepthBytes(), backlogBytes: c.backlogBytes, pendingRecords: c.pendingRecords(), backloggedRecords: c.backloggedRecords })),
          subscriptionUpdates: () => subscriptions.updatesSent,
          subscribers: () => subscriptions.subscribers,
          logFollows: () => follows.size,
          producers: () => producers.size,
          routeMatches: () => acceptor?.routeMatches() ?? new Map(),
        })
      : null;
    if (metrics !== null) {
      tracker.onSettled = metrics.onSettled.bind(metrics);
      ingest.onTaken = (events) => metrics.eventsReceived.inc(events);
    }
    const gate = new AuthGate(options.auth, log);
    const ownership = new Ownership(options.owners, partitions);
    const handler = new MessageHandler(ingest, producers, subscriptions, follows, stores, limits, { partitions, enabled: config.logRetentionEvents > 0 }, (name) => control.claimProducer(name), gate, ownership, log);
    if (metrics !== null) handler.onError = (code) => metrics.errors.inc({ code });
    server = new FrontEndServer(
      {
        host: config.host,
        port: config.port,
        limits,
        idleTimeoutSeconds: config.idleTimeoutSeconds,
        connectionSlots: new ConnectionSlots(options.connectionCounts, options.acceptor, config.maxConnections),
        partitions: () => partitionInfo(layout, options.workerInbound, recordsTaken, recordsSettled, stores),
        metrics: metrics === null ? null : () => control.metrics(),
        stats: metrics === null ? null : async () => ({ ...(await control.stats()), partitions, config: redactedConfig(config) }),
        tls: config.tlsCert !== undefined && config.tlsKey !== undefined ? { certFile: config.tlsCert, keyFile: config.tlsKey } : undefined,
        welcome: { partitions, durability: config.durability },
        reloadRoutes: (trigger) => control.reloadRoutes(trigger),
        ownership,
      },
      handler,
      stores,
      gate,
      log,
    );
    acceptor = new Acceptor(channels, tracker, ingest, server, producers, subscriptions, follows, gate, ownership, options, metrics);
    return acceptor;
  }

  /** Cluster mode: the control thread saw the partitions change hosts. */
  updateOwners(owners: PartitionOwners): void {
    const left = this.ownership.update(owners);
    if (left.length === 0) return;
    // Each partition that left, with the host it went to.
    const moved = new Map(left.map((p) => [p, this.ownership.ownerOf(p)!]));
    const movedTo = (p: number): string | undefined => moved.get(p);
    const { partitions } = this.options.layout;
    this.subscriptions.partitionsMoved((key) => movedTo(partitionOf(key, partitions)), [...new Set(moved.values())]);
    this.follows.endMoved(movedTo);
  }

  /** Listens on the configured port (upgrades are refused with 503 until start()); resolves with the port. */
  listen(): Promise<number> {
    return this.server.listen();
  }

  /** Starts moving the workers' progress into acks, and takes connections. */
  start(): void {
    for (const channel of this.channels) void this.pumpProgress(channel);
    this.server.ready = true;
  }

  /** Moves workers' progress reports into acks, and backlog into rings as space frees up. */
  private async pumpProgress(channel: PartitionChannel): Promise<void> {
    let reported = false;
    const onReport = (report: ProgressRecord) => {
      // After a fault nothing more is acked: a later report may cover what the fault left unknown.
      if (this.failed) return;
      if (report.kind === ProgressKind.Fatal) {
        this.options.onFatal(new Error(`partition worker ${channel.worker}: ${report.message}`));
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
        this.options.stores.resetReadTxns();
        this.follows.onCommitted(channel.worker);
      }
      if (channel.backlogBytes > 0) channel.drainBacklog();
      await channel.waitForProgress(PROGRESS_WAIT_MS);
    }
  }

  /**
   * Switches to the routes of `text` (the routes file as the control thread read and checked it)
   * between two frames: every event is routed wholly by the old or by the new routes.
   */
  reloadRoutes(text: string): void {
    const routes = parseRoutes(this.options.config.routes!, text);
    this.ingest.router?.matchCounts(this.retiredRouteMatches);
    this.ingest.router = new Router(routes);
  }

  /** Switches to the credentials of `auth` (checked by control) and re-checks the open connections. */
  reloadAuth(auth: AuthSources): void {
    this.gate.reload(auth, this.server.openConnections());
  }

  private routeMatches(): Map<string, number> {
    const matches = new Map(this.retiredRouteMatches);
    this.ingest.router?.matchCounts(matches);
    return matches;
  }

  /** A worker's loop was restarted: the change notices of its last batch may be lost. */
  onWorkerRestart(): void {
    this.subscriptions.dropAll('a partition worker restarted; updates may have been missed');
  }

  /** Forgets producers idle at `nowMs` (as the hourly expiry does); returns their names. */
  expireProducers(nowMs: number): string[] {
    return this.producers.expire(nowMs);
  }

  /**
   * Another acceptor claimed the producer: fences its connection here off, and hands over its
   * marks once everything taken here so far is settled, so that a re-send there which they call
   * a duplicate is acked only once its original is done. Null if the producer is not held here.
   */
  async releaseProducer(name: string): Promise<ProducerMarks | null> {
    const producer = this.producers.release(name);
    if (producer === null) return null;
    const through = this.channels.map((channel) => channel.enqueued);
    while (!this.channels.every((channel, worker) => channel.hasSettled(through[worker]!))) {
      if (this.failed) throw new Error('the acceptor stopped after a fault before the producer was settled');
      await new Promise((resolve) => setTimeout(resolve, SETTLED_POLL_MS));
    }
    return { seqs: producer.seqs, lastSeenMs: producer.lastSeenMs };
  }

  /** Its own metrics, for the control thread to merge (empty with HUNT_METRICS=off). */
  async ownMetrics(): Promise<MetricsJson> {
    return this.metrics === null ? [] : ((await this.metrics.registry.getMetricsAsJSON()) as MetricsJson);
  }

  /** Its share of the dashboard's figures. */
  statsPart(): Promise<StatsPart> {
    if (this.metrics === null) throw new Error('metrics are off (HUNT_METRICS=off)');
    return this.metrics.statsPart();
  }

  inspect(): AcceptorInspection {
    return {
      acceptor: this.options.acceptor,
      channels: this.channels.map((c) => ({
        worker: c.worker,
        ringBytes: c.ringDepthBytes(),
        backlogBytes: c.backlogBytes,
        peakBacklogBytes: c.peakBacklogBytes,
        notices: c.notices,
      })),
      connections: this.server.connectionCount,
      subscribers: this.subscriptions.subscribers,
      producers: this.producers.size,
    };
  }

  /**
   * After a fault: takes no more pubs, acks nothing more, closes every connection with `code` (a
   * pub whose fate is unknown gets no answer: its client re-sends it after reconnecting, and an
   * idempotent producer's re-send applies once).
   */
  fail(code: number, reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.pumping = false;
    this.stopTaking();
    this.server.closeConnections(code, reason);
  }

  /** Bytes queued for its connections and not yet written to their sockets. */
  get unsentBytes(): number {
    return this.server.unsentBytes();
  }

  /** Pubs in flight (taken, not yet answered). */
  get pending(): number {
    return this.tracker.pending;
  }

  /** Stops taking connections and pubs (orderly stop, first step); resolves when every pub taken is answered. */
  drain(): Promise<void> {
    this.stopTaking();
    return this.tracker.idle();
  }

  /** Last step of a stop (or of a failed start): closes the connections that are left. */
  close(code: number, reason: string): void {
    this.halt();
    this.server.closeConnections(code, reason);
  }

  /** Closes every socket at once, so the thread can end (a thread that ends holding a uWS socket aborts the process). */
  closeSockets(): void {
    this.halt();
    this.server.closeApp();
  }

  /** Nothing more is taken, acked or expired. */
  private halt(): void {
    this.pumping = false;
    this.stopTaking();
    clearInterval(this.expiryTimer);
  }

  private stopTaking(): void {
    this.server.ready = false;
    this.ingest.draining = true;
    this.server.stopListening();
  }
}

function partitionInfo(layout: Layout, workerInbound: RingBuffers[][], recordsTaken: Float64Array[], recordsSettled: Float64Array, stores: StoreSet): PartitionInfo[] {
  const ringBytes = workerInbound.map((rings) => rings.reduce((sum, ring) => sum + usedBytesOf(ring), 0));
  const info: PartitionInfo[] = [];
  for (let p = 0; p < layout.partitions; p++) {
    const worker = ownerOf(p, layout, workerInbound.length);
    info.push({
      partition: p,
      store: storeOf(p, layout.stores),
      worker,
      pendingEvents: pendingEvents(recordsTaken, recordsSettled, p),
      appliedOffset: stores.appliedOffset(p),
      workerRingBytes: ringBytes[worker]!,
      log: retainedRange(stores.ofPartition(p), p),
    });
  }
  return info;
}

/** Events of partition `p` taken by any acceptor and not yet settled. */
export function pendingEvents(recordsTaken: Float64Array[], recordsSettled: Float64Array, p: number): number {
  let taken = 0;
  for (const perAcceptor of recordsTaken) taken += perAcceptor[p]!;
  return taken - recordsSettled[p]!;
}
