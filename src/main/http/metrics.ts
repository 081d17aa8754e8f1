// Prometheus metrics for GET /metrics (prom-client, text format) and the dashboard's figures: an
// acceptor's own counters, moved as things happen (per pub or per frame, never per event), and
// gauges read from its state when scraped. The control thread merges every acceptor's with the
// engine-wide ones (control/engine-metrics.ts), so any acceptor answers for the whole engine.
import { Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export interface MetricsSources {
  connections(): number;
  pubsInFlight(): number;
  /** Per worker: bytes in this acceptor's ring to it and backlog, and records enqueued but not yet reported done. */
  channels(): ChannelFigures[];
  subscriptionUpdates(): number;
  subscribers(): number;
  logFollows(): number;
  producers(): number;
  /** Events matched per route name so far. */
  routeMatches(): Map<string, number>;
}

export interface ChannelFigures {
  worker: number;
  ringBytes: number;
  backlogBytes: number;
  pendingRecords: number;
  /** Records so far that found the ring full and waited in the backlog. */
  backloggedRecords: number;
}

/** The figures the dashboard polls (GET /v1/stats), for the whole engine. */
export interface DashboardStats {
  eventsReceived: number;
  eventsAcked: number;
  /** Over the last 4,096 pubs of each acceptor; null before the first. */
  ackLatencyMs: { p50: number | null; p99: number | null; pubs: number };
  connections: number;
  pubsInFlight: number;
  workers: ChannelFigures[];
  errors: Record<string, number>;
}

/** One acceptor's share of the dashboard's figures. */
export interface StatsPart extends Omit<DashboardStats, 'ackLatencyMs'> {
  /** Ack latencies (ms) of its most recent pubs. */
  recentLatencies: Float64Array;
}

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export class AcceptorMetrics {
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

  /** This acceptor's share of the dashboard's figures. */
  async statsPart(): Promise<StatsPart> {
    const total = async (counter: Counter) => (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
    const errors: Record<string, number> = {};
    for (const v of (await this.errors.get()).values) errors[String(v.labels.code)] = v.value;
    return {
      eventsReceived: await total(this.eventsReceived),
      eventsAcked: await total(this.eventsAcked),
      recentLatencies: this.recentLatencies.slice(0, Math.min(this.recentCount, this.recentLatencies.length)),
      connections: this.sources.connections(),
      pubsInFlight: this.sources.pubsInFlight(),
      workers: this.sources.channels(),
      errors,
    };
  }

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    new Gauge({ name: 'hunt_connections', help: 'Open WebSocket connections', registers, collect() { this.set(sources.connections()); } });
    new Gauge({ name: 'hunt_pubs_in_flight', help: 'Pubs taken and not yet answered', registers, collect() { this.set(sources.pubsInFlight()); } });
    new Gauge({ name: 'hunt_idempotent_producers', help: 'Idempotent producers remembered', registers, collect() { this.set(sources.producers()); } });
    const perWorker = (name: string, help: string, pick: (c: ChannelFigures) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'] as const,
        registers,
        collect() {
          for (const c of sources.channels()) this.set({ worker: String(c.worker) }, pick(c));
        },
      });
    perWorker('hunt_ring_bytes', "Bytes waiting in a worker's inbound rings", (c) => c.ringBytes);
    perWorker('hunt_backlog_bytes', 'Bytes held in memory for a worker whose ring is full', (c) => c.backlogBytes);
    new Counter({
      name: 'hunt_backlogged_records_total',
      help: "Records that found a worker's inbound ring full and waited in memory (the worker was behind)",
      labelNames: ['worker'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of sources.channels()) this.inc({ worker: String(c.worker) }, c.backloggedRecords);
      },
    });
    perWorker('hunt_worker_lag_records', 'Records enqueued for a worker and not yet reported committed', (c) => c.pendingRecords);
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
    new Gauge({ name: 'hunt_subscription_updates_sent', help: 'Updates sent to subscribers since start', registers, collect() { this.set(sources.subscriptionUpdates()); } });
    new Gauge({ name: 'hunt_subscribers', help: 'Connections holding key or prefix subscriptions', registers, collect() { this.set(sources.subscribers()); } });
    new Gauge({ name: 'hunt_log_follows', help: 'Running replay follows', registers, collect() { this.set(sources.logFollows()); } });
  }
}

/** The whole engine's dashboard figures from every acceptor's share: sums, and quantiles over all their recent latencies. */
export function mergeStats(parts: StatsPart[]): DashboardStats {
  const workers = new Map<number, ChannelFigures>();
  const errors: Record<string, number> = {};
  for (const part of parts) {
    for (const c of part.workers) {
      const sum = workers.get(c.worker) ?? { worker: c.worker, ringBytes: 0, backlogBytes: 0, pendingRecords: 0, backloggedRecords: 0 };
      sum.ringBytes += c.ringBytes;
      sum.backlogBytes += c.backlogBytes;
      sum.pendingRecords += c.pendingRecords;
      sum.backloggedRecords += c.backloggedRecords;
      workers.set(c.worker, sum);
    }
    for (const [code, n] of Object.entries(part.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const recent = Float64Array.from(parts.flatMap((part) => [...part.recentLatencies])).sort();
  const quantile = (q: number) => (recent.length === 0 ? null : recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!);
  const sum = (pick: (part: StatsPart) => number) => parts.reduce((total, part) => total + pick(part), 0);
  return {
    eventsReceived: sum((p) => p.eventsReceived),
    eventsAcked: sum((p) => p.eventsAcked),
    ackLatencyMs: { p50: quantile(0.5), p99: quantile(0.99), pubs: recent.length },
    connections: sum((p) => p.connections),
    pubsInFlight: sum((p) => p.pubsInFlight),
    workers: [...workers.values()].sort((a, b) => a.worker - b.worker),
    errors,
  };
}
