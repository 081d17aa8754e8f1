// Figures a partition worker keeps for GET /metrics in shared memory, so the front end reads them at
// scrape time instead of receiving a message per batch: histograms of commit batch sizes (events)
// and of commit+flush latency (seconds), and counts of route operations skipped for not fitting
// the record, by operator, and (cluster mode) of messages of the events topic refused as not being
// events (workers/plain-message.ts). The worker is the only writer; a scrape may read a batch's figures
// half-updated, which Prometheus tolerates (the next scrape is whole).
import { UPDATE_OPERATORS, type UpdateOperator } from './update-ops.js';

export const BATCH_EVENTS_BUCKETS = [10, 100, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];
export const COMMIT_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Per histogram: a count per bucket, one for +Inf, then the sum and the count of observations. */
const slots = (buckets: readonly number[]) => buckets.length + 3;

export interface HistogramSnapshot {
  /** Observations at or below each bound (cumulative), the last for +Inf. */
  cumulative: number[];
  sum: number;
  count: number;
}

/** A fixed-bucket histogram over a slice of shared memory. */
export class SharedHistogram {
  constructor(
    readonly buckets: readonly number[],
    private readonly slots: Float64Array,
  ) {}

  observe(value: number): void {
    const { buckets, slots } = this;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    slots[i]++;
    slots[buckets.length + 1] += value;
    slots[buckets.length + 2]++;
  }

  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let total = 0;
    for (let i = 0; i <= this.buckets.length; i++) cumulative.push((total += this.slots[i]!));
    return { cumulative, sum: this.slots[this.buckets.length + 1]!, count: this.slots[this.buckets.length + 2]! };
  }
}

export class WorkerStats {
  readonly batchEvents: SharedHistogram;
  readonly commitSeconds: SharedHistogram;
  /** Per operator (in UPDATE_OPERATORS' order): operations skipped because they did not fit the record. */
  readonly skippedOperations: Float64Array;
  /** [0]: messages of the events topic skipped as not being events. */
  readonly refusedMessages: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    const all = new Float64Array(buffer);
    const split = slots(BATCH_EVENTS_BUCKETS);
    const skippedAt = split + slots(COMMIT_SECONDS_BUCKETS);
    this.batchEvents = new SharedHistogram(BATCH_EVENTS_BUCKETS, all.subarray(0, split));
    this.commitSeconds = new SharedHistogram(COMMIT_SECONDS_BUCKETS, all.subarray(split, skippedAt));
    this.skippedOperations = all.subarray(skippedAt, skippedAt + UPDATE_OPERATORS.length);
    this.refusedMessages = all.subarray(skippedAt + UPDATE_OPERATORS.length, skippedAt + UPDATE_OPERATORS.length + 1);
  }

  countSkipped(operator: UpdateOperator): void {
    this.skippedOperations[UPDATE_OPERATORS.indexOf(operator)]++;
  }

  static create(): WorkerStats {
    const count = slots(BATCH_EVENTS_BUCKETS) + slots(COMMIT_SECONDS_BUCKETS) + UPDATE_OPERATORS.length + 1;
    return new WorkerStats(new SharedArrayBuffer(count * Float64Array.BYTES_PER_ELEMENT));
  }
}
