// Cluster mode, the produce side of a partition worker: the records its acceptors wrote into its
// inbound rings (validated, routed, fan-out included) go to the Kafka events topic, partition p of
// the engine to partition p of the topic, as one message per partition per send (log-batch.ts),
// with an idempotent producer and acks=all. Once Kafka has acknowledged a send the rings are
// released and the acceptors get a Done report, which acks the pubs: an ack means that every
// in-sync replica of the partition has the events.
//
// One send is in flight at a time (what the idempotent producer keeps in order); records that
// arrive meanwhile form the next send, so a busy forwarder sends large batches. A message is cut
// at MAX_MESSAGE_BYTES, but never inside an idempotent producer's pub: the apply side decides a
// re-send for a pub's records of a partition in one message as a whole (partition-loop.ts), and
// the acceptors publish each pub's records together (partition-channel.ts).
//
// A send that fails after the client's retries is a failed batch, as a failed commit is on one
// host: its pubs get STORAGE (Kafka may hold some of its messages, which will then apply). With
// records of idempotent producers in it, it is fatal instead (see partition-loop.ts): their
// acceptors have moved the producers' marks past them, so a re-send would be taken for a duplicate.
import type { Producer } from 'kafkajs';
import { sameProducerPub } from '../shared/event-record.js';
import { sendToEveryPartition } from '../shared/kafka-client.js';
import { LOG_BATCH_HEADERS, LogBatchBuilder } from '../shared/log-batch.js';
import type { Logger } from '../shared/logger.js';
import { ProgressKind } from '../shared/progress-record.js';
import { waitForAnyRing, type RingReader } from '../shared/ring.js';
import type { AcceptorRings } from './acceptor-rings.js';

/** Longest sleep between checks of the rings when idle. */
const IDLE_WAIT_MS = 1000;
/** Bytes of records per message at most (a bigger record goes alone). */
const MAX_MESSAGE_BYTES = 512 * 1024;

export class LogForwarder {
  private readonly inbound: RingReader[];
  private readonly batches: LogBatchBuilder[];
  /** Partitions with records in their batch (each once, unless a full message was taken from it). */
  private readonly touched: number[] = [];
  /** Per partition: the ring and offset of the last record of this drain in its batch (-1: none). */
  private readonly lastRing: Int32Array;
  private readonly lastAt: Int32Array;
  /** Messages taken whole before the send, in order. */
  private full: { partition: number; value: Buffer; headers: Readonly<Record<string, string>> }[] = [];
  private withProducers = false;
  /** Set once a send failed fatally: nothing more is sent or acked. */
  private halted = false;

  constructor(
    private readonly rings: AcceptorRings[],
    private readonly producer: Producer,
    private readonly topic: string,
    partitions: number,
    private readonly log: Logger,
  ) {
    this.inbound = rings.map((ring) => ring.inbound);
    this.batches = Array.from({ length: partitions }, () => new LogBatchBuilder());
    this.lastRing = new Int32Array(partitions).fill(-1);
    this.lastAt = new Int32Array(partitions);
  }

  /** Forwards until every acceptor closed its ring and everything in them is sent. */
  async run(): Promise<void> {
    while (!this.halted) {
      // Read before draining: the acceptors publish everything before they close their rings.
      const closed = this.inbound.every((ring) => ring.isClosed());
      if (this.drain() > 0) await this.send();
      else if (closed) return;
      else await waitForAnyRing(this.inbound, IDLE_WAIT_MS);
    }
  }

  /** Takes every published record into its partition's batch; returns how many. */
  private drain(): number {
    let read = 0;
    for (let r = 0; r < this.inbound.length; r++) {
      const ring = this.inbound[r]!;
      let at: number;
      while ((at = ring.next()) !== -1) {
        const p = ring.view.getUint16(at, true);
        const batch = this.batches[p]!;
        // A message stays under the brokers' default limit (message.max.bytes, 1 MB, per record
        // batch): a burst to one partition becomes several messages, sent in order.
        if (batch.records > 0 && batch.bytes + ring.length > MAX_MESSAGE_BYTES && !(this.lastRing[p] === r && sameProducerPub(ring.bytes, ring.view, this.lastAt[p]!, at))) {
          this.full.push({ partition: p, value: batch.take(), headers: LOG_BATCH_HEADERS });
        }
        if (batch.records === 0) this.touched.push(p);
        batch.append(ring.bytes, at, ring.length);
        this.lastRing[p] = r;
        this.lastAt[p] = at;
        // Bytes of the producer name (event-record.ts header).
        if (ring.view.getUint16(at + 6, true) > 0) this.withProducers = true;
        read++;
      }
    }
    return read;
  }

  private async send(): Promise<void> {
    const messages = this.full;
    this.full = [];
    for (const partition of this.touched) if (this.batches[partition]!.records > 0) messages.push({ partition, value: this.batches[partition]!.take(), headers: LOG_BATCH_HEADERS });
    this.touched.length = 0;
    this.lastRing.fill(-1);
    const withProducers = this.withProducers;
    this.withProducers = false;
    let failure: Error | null = null;
    try {
      // Kafka limits a partition's record batch in a request, not a message: one message per
      // partition per request, the later ones of a burst in the requests after, in order.
      for (let round = messages; round.length > 0; ) {
        const seen = new Set<number>();
        const now = round.filter((message) => !seen.has(message.partition) && seen.add(message.partition));
        await sendToEveryPartition((pending) => this.producer.send({ topic: this.topic, acks: -1, messages: pending }), now, this.log);
        round = round.filter((message) => !now.includes(message));
      }
    } catch (error) {
      failure = error as Error;
    }
    const kind = failure === null ? ProgressKind.Done : withProducers ? ProgressKind.Fatal : ProgressKind.Failed;
    if (kind === ProgressKind.Fatal) {
      this.halted = true;
      this.log.fatal({ err: failure }, "sending to Kafka failed with idempotent producers' events in the batch; the engine stops");
    } else if (failure !== null) this.log.error({ err: failure, messages: messages.length }, 'sending to Kafka failed; the batch is refused');
    for (const ring of this.rings) {
      if (ring.inbound.pendingRecords() === 0) continue;
      const through = ring.inbound.release();
      await ring.report({ kind, from: ring.reportedThrough, through, message: failure === null ? '' : `kafka: ${failure.message}` });
      if (kind !== ProgressKind.Fatal) ring.reportedThrough = through;
    }
  }
}
