// Tracks pubs until every worker that took part of one has reported its records done, then acks
// it. A pub spanning W workers is registered once per worker with the channel's record count after
// its last record there; reports come in ring order, so each worker's registrations are a FIFO.
import type { Connection } from '../connections/connection.js';
import { Fifo } from './fifo.js';
import { covers, ProgressKind, type ProgressRecord } from '../../shared/progress-record.js';
import { ErrorCode, type Encoding } from '../../shared/wire.js';

export interface PendingPub {
  conn: Connection;
  id: number;
  encoding: Encoding;
  /** Workers that have not reported this pub's records yet. */
  waiting: number;
  /** Set when a worker failed to store some of the pub's events. */
  failure: string | null;
  /** A re-send of an idempotent producer's pub whose events were all taken before. */
  dup: boolean;
  /** performance.now() when the pub was taken (for the ack-latency histogram). */
  takenAt: number;
  /** Events in the pub (for the acked-events counter). */
  events: number;
}

export class AckTracker {
  private readonly records: Fifo<number>[] = [];
  private readonly pubs: Fifo<PendingPub>[] = [];
  /** Pubs taken and not yet settled, across all connections. */
  pending = 0;
  private onIdle: (() => void) | null = null;
  /** Told how each pub ended — acked, dup (a re-send) or failed (STORAGE) — and after how many ms. */
  onSettled: (result: 'acked' | 'dup' | 'failed', ms: number, events: number) => void = () => {};

  constructor(workers: number) {
    for (let w = 0; w < workers; w++) {
      this.records.push(new Fifo<number>());
      this.pubs.push(new Fifo<PendingPub>());
    }
  }

  /** The pub's records on `worker` end with record number `lastRecord`. */
  track(pub: PendingPub, worker: number, lastRecord: number): void {
    if (pub.waiting++ === 0) this.pending++;
    this.records[worker]!.push(lastRecord);
    this.pubs[worker]!.push(pub);
  }

  onProgress(worker: number, report: ProgressRecord): void {
    const records = this.records[worker]!;
    const pubs = this.pubs[worker]!;
    while (records.size > 0 && covers(report.through, records.peek()!)) {
      records.shift();
      const pub = pubs.shift()!;
      if (report.kind === ProgressKind.Failed && pub.failure === null) pub.failure = report.message;
      if (--pub.waiting === 0) this.settle(pub);
    }
  }

  /** Settles a pub that waits for no worker (a re-send whose originals are all done). */
  settleNow(pub: PendingPub): void {
    this.pending++;
    this.settle(pub);
  }

  /** Resolves when no pub is pending any more. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onIdle = resolve;
    });
  }

  private settle(pub: PendingPub): void {
    this.pending--;
    this.onSettled(pub.failure !== null ? 'failed' : pub.dup ? 'dup' : 'acked', performance.now() - pub.takenAt, pub.events);
    const conn = pub.conn;
    conn.inFlight--;
    if (!conn.closed) {
      conn.send(
        pub.failure !== null
          ? { op: 'error', id: pub.id, code: ErrorCode.STORAGE, message: pub.failure }
          : pub.dup
            ? { op: 'ack', id: pub.id, dup: true }
            : { op: 'ack', id: pub.id },
        pub.encoding,
        false,
      );
    }
    if (this.pending === 0 && this.onIdle !== null) {
      const resolve = this.onIdle;
      this.onIdle = null;
      resolve();
    }
  }
}
