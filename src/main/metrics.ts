// Prometheus metrics for GET /metrics (prom-client, text format): counters the front end moves as
// things happen (per pub or per frame, never per event), and gauges read from the engine's state
// when scraped. Node's process metrics (CPU, memory, event-loop lag) are included.
import fs from 'node:fs';
import path from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSources {
  connections(): number;
  pubsInFlight(): number;
  channels(): { worker: number; ringBytes: number; backlogBytes: number }[];
  subscriptionUpdates(): number;
  producers(): number;
  dataDir: string;
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
  readonly workerRestarts = new Counter({ name: 'hunt_worker_restarts_total', help: 'Partition loops restarted by the supervisor', registers: [this.registry] });

  constructor(sources: MetricsSources) {
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
    new Gauge({ name: 'hunt_subscription_updates_sent', help: 'Updates sent to subscribers since start', registers, collect() { this.set(sources.subscriptionUpdates()); } });
    new Gauge({
      name: 'hunt_lmdb_file_bytes',
      help: 'Size of the LMDB data file',
      registers,
      collect() {
        try {
          this.set(fs.statSync(path.join(sources.dataDir, 'lmdb', 'data.mdb')).size);
        } catch {
          this.set(0);
        }
      },
    });
  }
}
