// Starts and supervises the partition workers: a Piscina pool of exactly N threads, each running
// one long-lived partition loop. Piscina replaces a thread that dies but does not re-run its task;
// the supervisor does, on the same rings, so the replacement resumes from the last released
// record. A worker that keeps dying is fatal: the engine stops rather than pretend to make progress.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Logger } from '../../shared/logger.js';
import type { PartitionWorkerResult, PartitionWorkerTask } from '../../shared/worker-task.js';
import { TerminationGuard } from '../../shared/termination-guard.js';
import { RestartBudget } from './restart-budget.js';

/** How long destroy() waits for the workers to leave their LMDB critical calls. */
const CRITICAL_WAIT_MS = 1000;

const WORKER_FILE = fileURLToPath(new URL('../../workers/partition-worker.js', import.meta.url));

export class PartitionWorkerPool {
  private readonly pool: Piscina<PartitionWorkerTask, PartitionWorkerResult>;
  private readonly loops: Promise<PartitionWorkerResult>[] = [];
  private readonly budget = new RestartBudget();
  private stopping = false;
  /** Total worker restarts since start. */
  restartCount = 0;
  private readonly guards: TerminationGuard[];

  constructor(
    private readonly tasks: PartitionWorkerTask[],
    private readonly log: Logger,
    private readonly onFatal: (error: Error) => void,
    /** Called when a worker's loop is restarted (its last batch's change notices may be lost). */
    private readonly onRestart: (worker: number) => void = () => {},
  ) {
    this.guards = tasks.map((task) => new TerminationGuard(task.terminationGuard));
    this.pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: tasks.length,
      maxThreads: tasks.length,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      // The loops sleep on their rings with Atomics.waitAsync; Piscina must not block the threads.
      atomics: 'disabled',
    });
    // A thread that fails with no task in flight is emitted here; unhandled, it kills the process.
    this.pool.on('error', (error: Error) => this.log.error({ err: error }, 'partition worker thread error'));
  }

  start(): void {
    for (const task of this.tasks) this.loops[task.worker] = this.launch(task);
  }

  /** Worker threads, for inspection (and for tests that kill one). */
  get threads(): readonly import('node:worker_threads').Worker[] {
    return this.pool.threads;
  }

  /** Waits for every loop to return after its inbound ring was closed, then ends the threads. */
  async stop(): Promise<PartitionWorkerResult[]> {
    this.stopping = true;
    const results = await Promise.all(this.loops);
    await this.pool.close({ force: true });
    return results;
  }

  /**
   * Ends the threads (used when stopping cleanly has failed or timed out), once none is in an LMDB
   * call that must not be cut short (termination-guard.ts), or after CRITICAL_WAIT_MS.
   */
  async destroy(): Promise<void> {
    this.stopping = true;
    await this.holdCritical(CRITICAL_WAIT_MS);
    await this.pool.destroy();
  }

  /**
   * Keeps every worker out of LMDB calls that must not be cut short, so that a thread terminated
   * meanwhile ends cleanly: resolves once none is inside one (false after `timeoutMs`). Until
   * release(), a worker that reaches one waits.
   */
  async holdCritical(timeoutMs: number): Promise<boolean> {
    const held = await Promise.all(this.guards.map((guard) => guard.hold(timeoutMs)));
    return held.every(Boolean);
  }

  releaseCritical(): void {
    for (const guard of this.guards) guard.release();
  }

  private launch(task: PartitionWorkerTask): Promise<PartitionWorkerResult> {
    return this.pool.run(task).then(
      (result) => {
        if (this.stopping) return result;
        this.log.error({ worker: task.worker }, 'partition loop returned before the engine stopped; restarting it');
        return this.relaunch(task);
      },
      (error: Error) => {
        if (this.stopping) throw error;
        this.log.error({ err: error, worker: task.worker }, 'partition worker died; restarting its loop');
        return this.relaunch(task);
      },
    );
  }

  private relaunch(task: PartitionWorkerTask): Promise<PartitionWorkerResult> {
    this.restartCount++;
    this.onRestart(task.worker);
    const spent = this.budget.spend('partition workers died');
    if (spent !== null) {
      this.onFatal(new Error(spent));
      // The loop is over: not restarted, and nothing for stop() to wait for.
      return Promise.resolve({ worker: task.worker, batches: 0, events: 0 });
    }
    // The original loop promise settles with this one, so stop() keeps waiting on the right thing.
    return this.launch(task);
  }
}
