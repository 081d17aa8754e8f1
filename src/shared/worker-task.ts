// What the front end hands a partition worker when it starts (or restarts) its loop.
import type { Durability, LogLevel } from './config.js';
import type { RingBuffers } from './ring.js';

export interface PartitionWorkerTask {
  worker: number;
  partitions: number;
  ownedPartitions: number[];
  inbound: RingBuffers;
  outbound: RingBuffers;
  dataDir: string;
  durability: Durability;
  batchMaxEvents: number;
  cacheKeys: number;
  logLevel: LogLevel;
}

export interface PartitionWorkerResult {
  worker: number;
  batches: number;
  events: number;
}
