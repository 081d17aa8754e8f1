// What the front end hands a partition worker when it starts (or restarts) its loop.
import type { Durability, KafkaConfig, LogLevel } from './config.js';
import type { Layout } from './partition.js';
import type { RingBuffers } from './ring.js';
import type { Limits } from './wire.js';

/** The rings between one acceptor and this worker, and the acceptor's subscription interest. */
export interface AcceptorLink {
  /** Event records from the acceptor; the worker's inbound rings share one doorbell. */
  inbound: RingBuffers;
  /** Progress reports and change notices to the acceptor. */
  outbound: RingBuffers;
  /** Per key-hash bucket, 1 where a change may have a subscriber at this acceptor (main/streams/subscriptions.ts). */
  interest: SharedArrayBuffer;
}

export interface PartitionWorkerTask {
  worker: number;
  /** The data directory's partitions and stores. */
  layout: Layout;
  /** The stores this worker owns and writes, and their partitions. */
  ownedStores: number[];
  ownedPartitions: number[];
  /** This worker's link with each acceptor (index = acceptor). */
  acceptors: AcceptorLink[];
  /** Float64Array per partition: records settled (applied, failed or found applied) since start; the owner writes. */
  settledRecords: SharedArrayBuffer;
  dataDir: string;
  durability: Durability;
  batchMaxEvents: number;
  cacheKeys: number;
  /** Shared flags that keep a termination out of LMDB calls that must not be cut short (termination-guard.ts). */
  terminationGuard: SharedArrayBuffer;
  logLevel: LogLevel;
  /** Event log retention per partition: most entries kept (0: no log at all) and most age (0: any). */
  logRetentionEvents: number;
  logRetentionSeconds: number;
  /** The worker's histograms for /metrics (worker-stats.ts). */
  stats: SharedArrayBuffer;
  /** Test-only: kill this worker thread once at a chosen point (see WorkerFault). */
  fault?: WorkerFault;
  /** Cluster mode only. */
  cluster?: ClusterTask;
}

/** What a partition worker needs in cluster mode (workers/cluster-worker.ts). */
export interface ClusterTask {
  kafka: KafkaConfig;
  /** The log ring: the events topic's records in (from the worker's log reader), the loop's reports out. */
  logLink: AcceptorLink;
  /** This host in the consumer group: its id (stable across restarts), and where clients reach it. */
  host: string;
  url: string;
  workers: number;
  /** What an event written to the topic by a producer outside the engine may be (as a pub's). */
  limits: Limits;
  /** Whether routes are set (they do not apply to such events). */
  routes: boolean;
}

/**
 * A test-only fault at `point` of the first batch from number `batch` on that reaches it (a batch
 * may end before `mid-drain`), once per engine (`fired` is shared by the thread and its replacements). Only Engine.start's hooks can set it; no setting or environment
 * variable reaches it.
 */
export interface WorkerFault {
  /**
   * mid-drain: the thread exits with part of the batch applied in memory; mid-commit: it exits
   * with one of the batch's stores committed and the others not; after-commit: it exits with the
   * batch committed, not released; flush (sync mode): the fsync after the batch's commit fails, as
   * a disk's I/O error would make it.
   */
  point: 'mid-drain' | 'mid-commit' | 'after-commit' | 'flush';
  batch: number;
  /** Int32Array[1] over it: 0 until the fault fired. */
  fired: SharedArrayBuffer;
}

export interface PartitionWorkerResult {
  worker: number;
  batches: number;
  events: number;
}
