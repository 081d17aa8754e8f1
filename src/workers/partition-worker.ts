// Piscina entry of a partition worker: one long-lived task per worker thread runs the partition
// loop until the front end closes the inbound ring. Piscina loads this file with import(), so it is
// the compiled JavaScript in dist/ that runs.
import { createLogger, osThreadId } from '../shared/logger.js';
import { StoreSet } from '../shared/store.js';
import type { PartitionWorkerResult, PartitionWorkerTask } from '../shared/worker-task.js';
import { TerminationGuard } from '../shared/termination-guard.js';
import { PartitionLoop } from './partition-loop.js';
import { AcceptorRings } from './acceptor-rings.js';
import { runClusterWorker } from './cluster-worker.js';
import type { Logger } from '../shared/logger.js';

export default async function runPartitionWorker(task: PartitionWorkerTask): Promise<PartitionWorkerResult> {
  const log = createLogger(task.logLevel, { worker: task.worker, tid: osThreadId() }, true);
  // A pending Atomics.waitAsync does not keep a thread's event loop alive; this handle does.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const stores = new TerminationGuard(task.terminationGuard).critical(() => StoreSet.open(task.dataDir, task.layout, task.ownedStores));
  try {
    log.info({ stores: task.ownedStores, partitions: task.ownedPartitions.length }, 'partition worker started');
    const result = task.cluster === undefined ? await runLoop(task, stores, log) : await runClusterWorker(task, task.cluster, stores, log);
    log.debug(result, 'partition loop stopped');
    return result;
  } finally {
    clearInterval(keepAlive);
    await stores.close();
  }
}

/** One host: the loop applies what the acceptors write into its rings, and acks it there. */
function runLoop(task: PartitionWorkerTask, stores: StoreSet, log: Logger): Promise<PartitionWorkerResult> {
  const rings = task.acceptors.map((link, acceptor) => new AcceptorRings(acceptor, link, stores, task.ownedStores));
  return new PartitionLoop(task, stores, log, { sources: rings, notices: rings, fromLog: false }).run();
}
