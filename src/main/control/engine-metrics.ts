// The engine-wide half of GET /metrics, kept by the control thread: the process's own metrics
// (CPU, memory), restarts, the partitions' lag over all acceptors, and the workers' histograms in
// shared memory. Each appears once; every acceptor's own metrics (http/metrics.ts) are summed in.
import fs from 'node:fs';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry, type Metric, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import { UPDATE_OPERATORS } from '../../shared/update-ops.js';
import type { SharedHistogram, WorkerStats } from '../../shared/worker-stats.js';
import type { MetricsJson } from '../http/metrics.js';

export interface EngineMetricsSources {
  /** Restarts since the engine started. */
  restarts(): { workers: number; acceptors: number };
  /** Per partition: events routed to it by any acceptor and not yet committed. */
  partitionLags(): { partition: number; lag: number }[];
  /** Each worker's histograms in shared memory, by worker index. */
  workerStats: WorkerStats[];
  /** Whether the engine runs in cluster mode (its metrics of the Kafka side are kept). */
  cluster: boolean;
  /** The stores' data files (one LMDB environment each). */
  dataFiles: string[];
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
  private readonly registry = new Registry();

  constructor(sources: EngineMetricsSources) {
    const registers = [this.registry];
    countedByControl(this.registry, 'hunt_worker_restarts_total', 'Partition loops restarted by the supervisor', () => sources.restarts().workers);
    countedByControl(this.registry, 'hunt_acceptor_restarts_total', 'Acceptor threads replaced after they crashed', () => sources.restarts().acceptors);
    collectDefaultMetrics({ register: this.registry, prefix: 'hunt_' });
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
    if (sources.cluster) {
      new Counter({
        name: 'hunt_kafka_messages_refused_total',
        help: 'Messages of the events topic skipped as not being events (a Kafka producer outside the engine wrote them; the log says why), by worker',
        labelNames: ['worker'] as const,
        registers,
        collect() {
          this.reset();
          sources.workerStats.forEach((stats, worker) => this.inc({ worker: String(worker) }, stats.refusedMessages[0]!));
        },
      });
    }
    sharedHistogram(this.registry, 'hunt_commit_batch_events', 'Events per committed batch', (s) => s.batchEvents, sources.workerStats);
    sharedHistogram(this.registry, 'hunt_commit_seconds', 'From starting a batch commit to its being durable (async: committed; sync: flushed)', (s) => s.commitSeconds, sources.workerStats);
    new Gauge({
      name: 'hunt_lmdb_file_bytes',
      help: "Size of the stores' LMDB data files, summed",
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

  /** Prometheus text of the whole engine: these metrics and every acceptor's (summed). */
  async text(acceptors: MetricsJson[]): Promise<string> {
    const own = (await this.registry.getMetricsAsJSON()) as MetricsJson;
    return AggregatorRegistry.aggregate([own, ...acceptors]).metrics();
  }
}
