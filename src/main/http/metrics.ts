// Prometheus metrics for GET /metrics (prom-client, text format): counters the front end moves as
// things happen (per pub or per frame, never per event), and gauges read from the engine's state
// when scraped. Node's process metrics (CPU, memory, event-loop lag) are included.
import fs from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import { UPDATE_OPERATORS } from '../../shared/update-ops.js';
import type { SharedHistogram, WorkerStats } from '../../shared/worker-stats.js';

export interface MetricsSources {
  /** Restarts since the engine started, counted by the control thread (they outlive an acceptor). */
  restarts(): { workers: number; acceptors: number };
  connections(): number;
  pubsInFlight(): number;
  /** Per worker: bytes in its ring and backlog, and records enqueued but not yet reported done. */
  channels(): { worker: number; ringBytes: number; backlogBytes: number; pendingRecords: number }[];
  /** Per partition: events routed to it and not yet committed. */
  partitionLags(): { partition: number; lag: number }[];
  subscriptionUpdates(): number;
  subscribers(): number;
  logFollows(): number;
  producers(): number;
  /** Events matched per route name so far. */
  routeMatches(): Map<string, number>;
  /** Each worker's histograms in shared memory, by worker index. */
  workerStats: WorkerStats[];
  /** The stores' data files (one LMDB environment each). */
  dataFiles: string[];
}

export interface DashboardStats {
  eventsReceived: number;
  eventsAcked: number;
  /** Over the last 4,096 pubs; null before the first. */
  ackLatencyMs: { p50: number | null; p99: number | null; pubs: number };
  connections: number;
  pubsInFlight: number;
  workers: ReturnType<MetricsSources['channels']>;
  errors: Record<string, number>;
}

/**
 * A histogram per worker whose counts the worker keeps in shared memory (worker-stats.ts): read at
 * scrape time, so workers never send a message per batch for metrics.
 */
function sharedHistogram(registry: Registry, name: string, help: string, pick: (stats: WorkerStats) => SharedHistogram, workers: WorkerStats[]): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async (): Promise<MetricObjectWithValues<MetricValueWithName<string>>> => {
      const values: MetricValueWithName<string>[] = [];
      workers.forEach((stats, worker) => {
        const histogram = pick(stats);
        const { cumulative, sum, count } = histogram.snapshot();
        const labels = { worker: String(worker) };
        histogram.buckets.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative[i]! }));
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative.at(-1)! });
        values.push({ metricName: `${name}_sum`, labels, value: sum });
        values.push({ metricName: `${name}_count`, labels, value: count });
      });
      return { name, help, type: 'histogram' as never, aggregator: 'sum', values, collect: () => undefined };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

/** A counter the control thread keeps (it outlives an acceptor), read when scraped. */
function countedByControl(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

export class EngineMetrics {
  readonly registry = new Registry();
  readonly eventsReceived = new Counter({ name: 'hunt_events_received_total', help: 'Events in pubs taken (validated and enqueued or recognised as re-sends)', registers: [this.registry] });
  readonly pubsSettled = new Counter({ name: 'hunt_pubs_settled_total', help: 'Pubs answered after their events were handled, by result', labelNames: ['result'] as const, registers: [this.registry] });
  readonly errors = new Counter({ name: 'hunt_errors_total', help: 'Error frames sent, by code', labelNames: ['code'] as const, registers: [this.registry] });
  readonly ackLatency = new Histogram({
    name: 'hunt_ack_latency_seconds',
    help: 'From taking a pub to answering it (ack, dup ack or STORAGE)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly eventsAcked = new Counter({ name: 'hunt_events_acked_total', help: 'Events of pubs answered with an ack (dup acks included)', registers: [this.registry] });
  /** Ack latencies of the most recent pubs, for the dashboard's p50/p99 (the histogram's buckets are too coarse). */
  private readonly recentLatencies = new Float64Array(4096);
  private recentCount = 0;

  /** A settled pub: counters, histogram, and the dashboard's latency window. */
  onSettled(result: 'acked' | 'dup' | 'failed', ms: number, events: number): void {
    this.pubsSettled.inc({ result });
    this.ackLatency.observe(ms / 1000);
    if (result !== 'failed') this.eventsAcked.inc(events);
    this.recentLatencies[this.recentCount++ % this.recentLatencies.length] = ms;
  }

  /** The figures the dashboard polls (GET /v1/stats): totals, recent latency, per-worker depth. */
  async stats(): Promise<DashboardStats> {
    const total = async (counter: Counter) => (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
    const errors: Record<string, number> = {};
    for (const v of (await this.errors.get()).values) errors[String(v.labels.code)] = v.value;
    const recent = this.recentLatencies.slice(0, Math.min(this.recentCount, this.recentLatencies.length)).sort();
    const quantile = (q: number) => (recent.length === 0 ? null : recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!);
    return {
      eventsReceived: await total(this.eventsReceived),
      eventsAcked: await total(this.eventsAcked),
      ackLatencyMs: { p50: quantile(0.5), p99: quantile(0.99), pubs: recent.length },
      connections: this.sources.connections(),
      pubsInFlight: this.sources.pubsInFlight(),
      workers: this.sources.channels(),
      errors,
    };
  }

  constructor(private readonly sources: MetricsSources) {
    countedByControl(this.registry, 'hunt_worker_restarts_total', 'Partition loops restarted by the supervisor', () => sources.restarts().workers);
    countedByControl(this.registry, 'hunt_acceptor_restarts_total', 'Acceptor threads replaced after they crashed', () => sources.restarts().acceptors);
    collectDefaultMetrics({ register: this.registry, prefix: 'hunt_' });
    const registers = [this.registry];
    new Gauge({ name: 'hunt_connections', help: 'Open WebSocket connections', registers, collect() { this.set(sources.connections()); } });
    new Gauge({ name: 'hunt_pubs_in_flight', help: 'Pubs taken and not yet answered', registers, collect() { this.set(sources.pubsInFlight()); } });
    new Gauge({ name: 'hunt_idempotent_producers', help: 'Idempotent producers remembered', registers, collect() { this.set(sources.producers()); } });
    const perWorker = (name: string, help: string, pick: (c: ReturnType<MetricsSources['channels']>[number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'] as const,
        registers,
        collect() {
          for (const c of sources.channels()) this.set({ worker: String(c.worker) }, pick(c));
        },
      });
    perWorker('hunt_ring_bytes', "Bytes waiting in a worker's inbound ring", (c) => c.ringBytes);
    perWorker('hunt_backlog_bytes', 'Bytes held in memory for a worker whose ring is full', (c) => c.backlogBytes);
    perWorker('hunt_worker_lag_records', 'Records enqueued for a worker and not yet reported committed', (c) => c.pendingRecords);
    new Gauge({
      name: 'hunt_partition_lag_events',
      help: 'Events routed to a partition and not yet committed',
      labelNames: ['partition'] as const,
      registers,
      collect() {
        for (const { partition, lag } of sources.partitionLags()) this.set({ partition: String(partition) }, lag);
      },
    });
    new Counter({
      name: 'hunt_route_matches_total',
      help: 'Events matched by each route as they were validated (including events of pubs refused later); (none): no route',
      labelNames: ['route'] as const,
      registers,
      collect() {
        this.reset();
        for (const [route, n] of sources.routeMatches()) this.inc({ route }, n);
      },
    });
    new Counter({
      name: 'hunt_route_operations_skipped_total',
      help: 'Route operations skipped because they did not fit the record (e.g. $inc of a string), by worker and operator',
      labelNames: ['worker', 'operator'] as const,
      registers,
      collect() {
        this.reset();
        sources.workerStats.forEach((stats, worker) => {
          stats.skippedOperations.forEach((n, i) => {
            if (n > 0) this.inc({ worker: String(worker), operator: UPDATE_OPERATORS[i]! }, n);
          });
        });
      },
    });
    sharedHistogram(this.registry, 'hunt_commit_batch_events', 'Events per committed batch', (s) => s.batchEvents, sources.workerStats);
    sharedHistogram(this.registry, 'hunt_commit_seconds', 'From starting a batch commit to its being durable (async: committed; sync: flushed)', (s) => s.commitSeconds, sources.workerStats);
    new Gauge({ name: 'hunt_subscription_updates_sent', help: 'Updates sent to subscribers since start', registers, collect() { this.set(sources.subscriptionUpdates()); } });
    new Gauge({ name: 'hunt_subscribers', help: 'Connections holding key or prefix subscriptions', registers, collect() { this.set(sources.subscribers()); } });
    new Gauge({ name: 'hunt_log_follows', help: 'Running replay follows', registers, collect() { this.set(sources.logFollows()); } });
    new Gauge({
      name: 'hunt_lmdb_file_bytes',
      help: 'Size of the stores\' LMDB data files, summed',
      registers,
      collect() {
        let bytes = 0;
        for (const file of sources.dataFiles) {
          try {
            bytes += fs.statSync(file).size;
          } catch {
            // A store not written yet has no data file.
          }
        }
        this.set(bytes);
      },
    });
  }
}
