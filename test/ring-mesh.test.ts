// A partition worker fed by several acceptors' rings (the ring mesh): it takes the rings in turn,
// so records of a quiet acceptor are applied in the first batch even behind another's flood; it
// numbers each partition's events itself; and a replacement loop after a crash in the middle of a
// commit skips, ring by ring, exactly what its predecessor committed.
import t, { type Test } from 'tap';
import pino from 'pino';
import { openDataDir } from '../src/main/control/data-dir.js';
import { PartitionWorkerPool } from '../src/main/control/worker-pool.js';
import { TerminationGuard } from '../src/shared/termination-guard.js';
import { createRingMesh, linksOfWorker } from '../src/main/control/ring-mesh.js';
import { PartitionChannel } from '../src/main/ingest/partition-channel.js';
import { NO_PRODUCER, RecordKind } from '../src/shared/event-record.js';
import { forEachSegmentEntry } from '../src/shared/event-log.js';
import { fnv1a32Utf8, partitionOf, partitionsOwnedBy, type Layout } from '../src/shared/partition.js';
import { ProgressKind } from '../src/shared/progress-record.js';
import { readMeta, StoreSet } from '../src/shared/store.js';
import { WorkerStats } from '../src/shared/worker-stats.js';
import type { AcceptorLink, PartitionWorkerTask, WorkerFault } from '../src/shared/worker-task.js';
import { closeRing } from '../src/shared/ring.js';
import { tempDir, until } from './helpers.js';

const LAYOUT: Layout = { partitions: 8, stores: 4 };
const BATCH_MAX_EVENTS = 1000;

interface Mesh {
  links: AcceptorLink[];
  channels: PartitionChannel[];
  pool: PartitionWorkerPool;
  dataDir: string;
}

/** One real worker thread reading one ring from each of `acceptors` channels. */
function startMesh(t: Test, acceptors: number, options: { fault?: WorkerFault; logEvents?: number } = {}): Mesh {
  const dataDir = tempDir(t);
  openDataDir(dataDir, { partitions: LAYOUT.partitions, stores: LAYOUT.stores }, 1);
  const mesh = createRingMesh(acceptors, 1, 4 << 20);
  const channels = mesh.map((links) => new PartitionChannel(0, links[0]!));
  const task: PartitionWorkerTask = {
    worker: 0,
    layout: LAYOUT,
    ownedStores: [0, 1, 2, 3],
    ownedPartitions: partitionsOwnedBy(0, 1, LAYOUT),
    acceptors: linksOfWorker(mesh, 0),
    settledRecords: new SharedArrayBuffer(LAYOUT.partitions * 8),
    dataDir,
    durability: 'async',
    batchMaxEvents: BATCH_MAX_EVENTS,
    cacheKeys: 10_000,
    terminationGuard: TerminationGuard.create(),
    logLevel: 'silent',
    logRetentionEvents: options.logEvents ?? 0,
    logRetentionSeconds: 0,
    stats: WorkerStats.create().buffer,
    ...(options.fault === undefined ? {} : { fault: options.fault }),
  };
  const pool = new PartitionWorkerPool([task], pino({ level: 'silent' }), (error) => t.fail(error.message));
  return { links: linksOfWorker(mesh, 0), channels, pool, dataDir };
}

/** Writes `count` events of type `type`, keys `prefix0`…`prefix(keys-1)`, into a channel and publishes them. */
function writeEvents(channel: PartitionChannel, prefix: string, keys: number, count: number, type = 't'): void {
  for (let i = 0; i < count; i++) {
    const key = `${prefix}${i % keys}`;
    const hash = fnv1a32Utf8(key);
    channel.writeEvent(hash % LAYOUT.partitions, key, Buffer.byteLength(key), hash, type, 1, NO_PRODUCER, RecordKind.Merge, 1, null);
  }
  channel.publish();
}

/** The types of a partition's events in the order its worker applied them (its event log). */
function appliedTypes(stores: StoreSet, partition: number): string[] {
  const types: string[] = [];
  for (const { value } of stores.ofPartition(partition).log.getRange({ start: [partition, 0], end: [partition, Infinity] })) {
    forEachSegmentEntry(value, null, (entry) => types.push(entry.type) > 0);
  }
  return types;
}

/** Reads every channel's progress reports; returns how far each one is settled. */
function readSettled(channels: PartitionChannel[]): void {
  for (const channel of channels) {
    channel.readProgress(
      (report) => {
        if (report.kind !== ProgressKind.Done) throw new Error(`unexpected report ${report.kind}: ${report.message}`);
      },
      () => {},
    );
  }
}

async function stopMesh(mesh: Mesh): Promise<StoreSet> {
  for (const link of mesh.links) closeRing(link.inbound);
  await mesh.pool.stop();
  return StoreSet.open(mesh.dataDir, LAYOUT);
}

function countOf(stores: StoreSet, key: string): number {
  return readMeta(stores, key)?.count ?? 0;
}

function appliedOffsets(stores: StoreSet): number {
  let sum = 0;
  for (let p = 0; p < LAYOUT.partitions; p++) sum += stores.appliedOffset(p);
  return sum;
}

t.test('a quiet acceptor is served in the first batch, behind a flood from another', async (t) => {
  const mesh = startMesh(t, 2, { logEvents: 1_000_000 });
  const [flooding, quiet] = mesh.channels as [PartitionChannel, PartitionChannel];
  const flood = 20 * BATCH_MAX_EVENTS;
  // One key each, in one partition: its event log shows the order the worker applied them in.
  const quietPrefix = Array.from({ length: 100 }, (_, i) => `quiet${i}-`).find((prefix) => partitionOf(`${prefix}0`, LAYOUT.partitions) === partitionOf('flood0', LAYOUT.partitions))!;
  // Written before the worker starts: its first batch can take from both rings.
  writeEvents(flooding, 'flood', 1, flood, 'flood');
  writeEvents(quiet, quietPrefix, 1, 100, 'quiet');
  mesh.pool.start();
  await until('every ring to be settled', () => {
    readSettled(mesh.channels);
    return mesh.channels.every((channel) => channel.isSettled());
  });
  const stores = await stopMesh(mesh);
  t.teardown(() => stores.close());
  const types = appliedTypes(stores, partitionOf('flood0', LAYOUT.partitions));
  t.equal(types.length, flood + 100, 'every event applied and logged once');
  const lastQuiet = types.lastIndexOf('quiet');
  t.ok(lastQuiet < BATCH_MAX_EVENTS, `the quiet acceptor's events were all in the first batch (the last at position ${lastQuiet} of ${flood + 100})`);
  t.equal(countOf(stores, `${quietPrefix}0`), 100);
  t.equal(countOf(stores, 'flood0'), flood);
  t.equal(appliedOffsets(stores), flood + 100, 'the worker gave every event one offset of its partition');
});

t.test('a crash between two stores\' commits: the replacement skips, ring by ring, what was committed', async (t) => {
  const fault: WorkerFault = { point: 'mid-commit', batch: 2, fired: new SharedArrayBuffer(4) };
  const mesh = startMesh(t, 3, { fault });
  mesh.pool.start();
  // Small bursts on every ring, so batches mix the rings and each store's mark matters.
  for (let burst = 0; burst < 30; burst++) {
    mesh.channels.forEach((channel, a) => writeEvents(channel, `a${a}k`, 7, 150));
    await new Promise((r) => setTimeout(r, 2));
  }
  await until('every ring to be settled', () => {
    readSettled(mesh.channels);
    return mesh.channels.every((channel) => channel.isSettled());
  });
  t.equal(new Int32Array(fault.fired)[0], 1, 'the fault fired');
  t.equal(mesh.pool.restartCount, 1, 'the loop was restarted once');
  const stores = await stopMesh(mesh);
  t.teardown(() => stores.close());
  for (let a = 0; a < 3; a++) {
    const counts = Array.from({ length: 7 }, (_, k) => countOf(stores, `a${a}k${k}`));
    t.same(counts, Array.from({ length: 7 }, (_, k) => 30 * (Math.floor(150 / 7) + (k < 150 % 7 ? 1 : 0))), `acceptor ${a}: each event applied once`);
  }
  t.equal(appliedOffsets(stores), 3 * 30 * 150, 'one offset per applied event');
});
