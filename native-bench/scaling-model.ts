// The scaling model: events/s of a host with N cores from per-event costs measured on this one.
// Pure functions; scaling.ts measures the costs and writes the report.
//
// Every per-event resource exists once per thread, never once per process: an acceptor thread
// takes its connections' frames, a worker owns its stores (each store's write lock has that one
// writer), and they meet on SPSC rings, one per (acceptor, worker). So the engine's capacity is
// the least of: the acceptors' (A / acceptor µs per event), the workers' (effective workers /
// worker µs per event, where a worker with more partitions than another limits the rest), the
// cores' (N / all CPU per event), and the NIC's (its bytes/s / bytes per event on the wire).
import { ownerOf, type Layout } from '../src/shared/partition.js';

/** Costs measured in one configuration, µs per acked event unless named otherwise. */
export interface MeasuredCosts {
  durability: 'sync' | 'async';
  acceptors: number;
  workers: number;
  partitions: number;
  stores: number;
  eventsPerSecond: number;
  /** CPU of all acceptor threads, and its kernel share. */
  acceptorUs: number;
  acceptorSystemUs: number;
  /** The busiest acceptor's CPU ÷ the mean acceptor's: how unevenly the connections spread. */
  acceptorSkew: number;
  /** CPU of all worker threads. */
  workerUs: number;
  /** The busiest worker's CPU ÷ the mean worker's (workers without stores left out). */
  workerSkew: number;
  /** Control and helper threads (GC, libuv's pool). */
  otherUs: number;
  /** The load generator's CPU in the kernel: on loopback the sender pays much of the receive path. */
  generatorSystemUs: number;
  /** The load generator's CPU (it shares this host's cores). */
  generatorUs: number;
  /** Wall time from a commit's start until it is durable (sync: with the fsync), summed over workers. */
  commitUs: number;
  /** Events per pub. */
  batch: number;
}

/** How many of a pub's rings one event pays for: a pub of `batch` random keys touches about W(1 − (1 − 1/W)^B) workers. */
export function ringsPerEvent(workers: number, batch: number): number {
  return (workers * (1 - Math.pow(1 - 1 / workers, batch))) / batch;
}

/** The partitions of the busiest worker ÷ the mean: how far the layout keeps the workers from sharing evenly. */
export function layoutSkew(layout: Layout, workers: number): number {
  const owned = new Array<number>(workers).fill(0);
  for (let p = 0; p < layout.partitions; p++) owned[ownerOf(p, layout, workers)]!++;
  const busy = owned.filter((n) => n > 0);
  return Math.max(...busy) / (layout.partitions / busy.length);
}

/** Workers that own at least one store. */
export const activeWorkers = (workers: number, stores: number) => Math.min(workers, stores);

/**
 * Least squares y = a + b·x with b ≥ 0: a cost never falls as rings are added, so a negative slope
 * is noise and the mean is the better estimate.
 */
export function fitRisingLine(points: { x: number; y: number }[]): { a: number; b: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const b = sxx === 0 ? 0 : Math.max(0, points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx);
  return { a: my - b * mx, b };
}

/**
 * A worker's time per event: its CPU, or in sync mode the commit-to-durable time if longer. The
 * worker drains and merges the next batch while the last one's fsync runs, so a cycle lasts the
 * longer of the two.
 */
export const workerBusyUs = (workerCpuUs: number, durability: 'sync' | 'async', commitUs: number) =>
  durability === 'sync' ? Math.max(workerCpuUs, commitUs) : workerCpuUs;

/** Per-event costs as functions of the thread counts, fitted over a scenario's measured rows. */
export interface CostModel {
  /** Acceptor µs per event with W workers: a fixed part plus a part per ring a pub touches. */
  acceptorUs(workers: number): number;
  /**
   * Worker µs per event: the median row's. A worker polls and releases each acceptor's ring once
   * per batch, not per event, so the acceptor count does not enter (the A = 4 rows check it).
   */
  workerUs: number;
  otherUs: number;
  /** Added to the acceptors' cost off loopback: the generator's kernel time, all charged to the receiver. */
  receiveUs: number;
  durability: 'sync' | 'async';
  /** Commit start to durable, per event over all workers (the median row). */
  commitUs: number;
  fit: { acceptorFixed: number; acceptorPerRing: number };
}

export function fitCosts(rows: MeasuredCosts[]): CostModel {
  const acceptor = fitRisingLine(rows.map((r) => ({ x: ringsPerEvent(activeWorkers(r.workers, r.stores), r.batch), y: r.acceptorUs })));
  const mean = (pick: (r: MeasuredCosts) => number) => rows.reduce((s, r) => s + pick(r), 0) / rows.length;
  const middle = (pick: (r: MeasuredCosts) => number) => rows.map(pick).sort((x, y) => x - y)[rows.length >> 1]!;
  const batch = rows[0]!.batch;
  return {
    acceptorUs: (workers) => acceptor.a + acceptor.b * ringsPerEvent(workers, batch),
    workerUs: middle((r) => r.workerUs),
    otherUs: mean((r) => r.otherUs),
    receiveUs: mean((r) => r.generatorSystemUs),
    durability: rows[0]!.durability,
    commitUs: middle((r) => r.commitUs),
    fit: { acceptorFixed: acceptor.a, acceptorPerRing: acceptor.b },
  };
}

export type Limit = 'acceptors' | 'workers' | 'cores' | 'NIC';

export interface Prediction {
  eventsPerSecond: number;
  limit: Limit;
  capacities: Record<Limit, number>;
}

/** The least of the capacities, and which one it is. */
function least(capacities: Record<Limit, number>): Prediction {
  let limit: Limit = 'acceptors';
  for (const name of Object.keys(capacities) as Limit[]) if (capacities[name] < capacities[limit]) limit = name;
  return { eventsPerSecond: capacities[limit], limit, capacities };
}

/**
 * A configuration measured here, predicted from its own costs: its threads share this host's
 * `cores` with the load generator, so the core budget counts the generator's CPU too.
 */
export function predictMeasured(row: MeasuredCosts, cores: number): Prediction {
  const active = activeWorkers(row.workers, row.stores);
  const perAcceptor = (row.acceptorUs / row.acceptors) * row.acceptorSkew;
  const perWorker = (workerBusyUs(row.workerUs, row.durability, row.commitUs) / active) * row.workerSkew;
  return least({
    acceptors: 1e6 / perAcceptor,
    workers: 1e6 / perWorker,
    cores: (cores * 1e6) / (row.acceptorUs + row.workerUs + row.otherUs + row.generatorUs),
    NIC: Infinity,
  });
}

export interface HostAssumptions {
  cores: number;
  /** Cores left to control, GC helpers and the kernel's interrupts. */
  reservedCores: number;
  nicBytesPerSecond: number;
  wireBytesPerEvent: number;
  /** Busiest acceptor ÷ even share, at the host's connections per acceptor. */
  connectionSkew: number;
}

export interface HostPrediction extends Prediction {
  acceptors: number;
  workers: number;
}

/**
 * The best split of a larger host's cores between acceptors and workers (stores = workers and a
 * partition count that is a multiple of them, so every worker carries the same share), load
 * arriving over the network: the generator's CPU is not on the host, its kernel receive work is.
 */
export function predictHost(model: CostModel, host: HostAssumptions): HostPrediction {
  let best: HostPrediction | null = null;
  const threads = host.cores - host.reservedCores;
  for (let acceptors = 1; acceptors < threads; acceptors++) {
    const workers = threads - acceptors;
    const acceptorUs = model.acceptorUs(workers) + model.receiveUs;
    const { workerUs } = model;
    const prediction = least({
      acceptors: (acceptors * 1e6) / (acceptorUs * host.connectionSkew),
      workers: (workers * 1e6) / workerBusyUs(workerUs, model.durability, model.commitUs),
      cores: (host.cores * 1e6) / (acceptorUs + workerUs + model.otherUs),
      NIC: host.nicBytesPerSecond / host.wireBytesPerEvent,
    });
    if (best === null || prediction.eventsPerSecond > best.eventsPerSecond) best = { ...prediction, acceptors, workers };
  }
  return best!;
}
