// Cluster mode, the apply side's source: a member of the hosts' consumer group, one per partition
// worker, that reads the events topic's partitions of the stores this worker owns (store-assigner.ts)
// into the worker's log ring, for the partition loop to apply. Where it starts in a partition is
// where the partition's applied state ends (its LogPosition, committed with that state), so a
// restart applies every message exactly once; after each message it writes a LogPosition record,
// which the loop commits with the message's effects.
//
// Messages before the position are skipped (fetches may start earlier than a seek); a message
// after it means the topic lost messages the state never saw (retention), which is fatal.
//
// Besides the engine's batches, the topic may hold events that Kafka producers outside the engine
// wrote (plain-message.ts): each becomes one record; one that is not an event is skipped, counted
// and logged, and the partition goes on (a bad producer must not stop every host in turn).
//
// Partitions new to this worker are paused until their state is the changelog's
// (partition-handover.ts); then a Resume record tells the loop that what follows in the ring is
// read anew from the stored position, and the stores start writing their changelog.
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { KafkaConfig } from '../shared/config.js';
import { isWholeEventRecord, writeEventRecord, writeLogMarkRecord, EVENT_HEADER_BYTES, NO_PRODUCER, RecordKind } from '../shared/event-record.js';
import { LOG_BATCH_HEADER, LogBatchReader } from '../shared/log-batch.js';
import { isKafkaError } from '../shared/kafka-client.js';
import type { Logger } from '../shared/logger.js';
import { outboundKind, ProgressKind, readProgressRecord } from '../shared/progress-record.js';
import { RingReader, RingWriter } from '../shared/ring.js';
import type { LogPosition, StoreSet } from '../shared/store.js';
import type { AcceptorLink } from '../shared/worker-task.js';
import { storeOf } from '../shared/partition.js';
import type { ChangelogWriter } from './changelog-writer.js';
import type { PartitionHandover } from './partition-handover.js';
import { storeAssigner } from './store-assigner.js';
import type { MemberInfo } from '../shared/group-subscription.js';
import type { WorkerStats } from '../shared/worker-stats.js';
import { PlainMessageError, type PlainMessageReader } from './plain-message.js';

const WAIT_FOR_SPACE_MS = 200;
const SESSION_TIMEOUT_MS = 10_000;
/** First wait before taking partitions over again after a Kafka error; it doubles up to the most. */
const TAKE_OVER_RETRY_MS = 500;
const MAX_TAKE_OVER_RETRY_MS = 10_000;
/** Refused plain messages are logged at most this often (the rest are counted in the next line). */
const REFUSAL_LOG_INTERVAL_MS = 1000;

/** How the reader takes events written by Kafka producers outside the engine. */
export interface PlainMessages {
  reader: PlainMessageReader;
  /** Counts the refused ones (GET /metrics). */
  stats: WorkerStats;
  /** Routes are set: say once that they do not apply to these events. */
  routes: boolean;
}

export class LogReader {
  private readonly consumer: Consumer;
  private readonly writer: RingWriter;
  private readonly progress: RingReader;
  private readonly batch = new LogBatchReader();
  /** Per assigned partition: where the next message to write into the ring starts. */
  private readonly next = new Map<number, LogPosition>();
  /** Set by a fatal fault (here or in the loop): nothing more is read. */
  failure: Error | null = null;
  /** The group's assignments seen (each one supersedes the partitions the last one was taking over). */
  private generation = 0;
  /** Stores of the current assignment. */
  private held = new Set<number>();
  /** Take-overs run one after the other. */
  private takingOver: Promise<void> = Promise.resolve();
  private stopping = false;
  private lastRefusalLog = 0;
  private refusalsNotLogged = 0;
  private plainSeen = false;

  constructor(
    kafka: Kafka,
    private readonly config: KafkaConfig,
    link: AcceptorLink,
    private readonly stores: StoreSet,
    member: MemberInfo,
    private readonly handover: PartitionHandover,
    private readonly changelog: ChangelogWriter,
    private readonly plain: PlainMessages,
    private readonly log: Logger,
    private readonly onFatal: (error: Error) => void,
  ) {
    this.writer = new RingWriter(link.inbound);
    this.progress = new RingReader(link.outbound);
    // A host that died leaves its members in the group until their sessions expire; the others'
    // partitions wait for that, so sessions are short (the brokers' minimum is 6 s).
    this.consumer = kafka.consumer({ groupId: config.group, partitionAssigners: [storeAssigner(member, () => [...this.held])], allowAutoTopicCreation: false, maxBytesPerPartition: 16 << 20, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: SESSION_TIMEOUT_MS / 10 });
  }

  async start(): Promise<void> {
    const { consumer } = this;
    await consumer.connect();
    await consumer.subscribe({ topic: this.config.topic, fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.assigned(payload.memberAssignment[this.config.topic] ?? []));
    // kafkajs restarts the consumer after errors it can retry (a broker away for a while); after
    // any other, nothing would be applied any more: the engine stops instead of serving stale state.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(new Error(`the events topic's consumer stopped: ${payload.error.message}`));
    });
    await consumer.run({ autoCommit: false, eachBatch: (payload) => this.take(payload) });
  }

  /** Leaves the group (after the batch being taken) and closes the log ring: the loop then ends. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.disconnect();
    await this.takingOver;
    this.writer.publish();
    this.writer.close();
  }

  /** A new assignment: partitions kept go on where they were; new ones wait for their take-over. */
  private assigned(partitions: number[]): void {
    const generation = ++this.generation;
    const { topic } = this.config;
    for (const p of [...this.next.keys()]) if (!partitions.includes(p)) this.next.delete(p);
    const stores = new Set(partitions.map((p) => storeOf(p, this.stores.layout.stores)));
    for (const s of this.held) {
      if (!stores.has(s)) void this.changelog.release(s).catch((error: unknown) => this.log.warn({ err: error, store: s }, 'releasing a store\'s changelog producer failed'));
    }
    this.held = stores;
    const fresh = partitions.filter((p) => !this.next.has(p));
    for (const p of this.next.keys()) this.consumer.seek({ topic, partition: p, offset: String(this.next.get(p)!.offset) });
    if (fresh.length > 0) {
      this.consumer.pause([{ topic, partitions: fresh }]);
      this.takingOver = this.takingOver.then(() => this.takeOverRetrying(fresh, generation)).catch((error: unknown) => this.fail(new Error(`taking over partitions ${fresh.join(', ')}: ${(error as Error).message}`)));
    }
    this.log.info({ partitions, fresh }, 'events topic partitions assigned');
  }

  /**
   * takeOver, again after a Kafka error (a broker or the group's coordinator away for a while),
   * until it is done or a new assignment supersedes it: every step of it can be done again. Any
   * other error is fatal.
   */
  private async takeOverRetrying(partitions: number[], generation: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.takeOver(partitions, generation);
      } catch (error) {
        if (!isKafkaError(error)) throw error;
        if (generation !== this.generation || this.stopping) return;
        const waitMs = Math.min(TAKE_OVER_RETRY_MS * 2 ** attempt, MAX_TAKE_OVER_RETRY_MS);
        this.log.warn({ err: error, partitions, attempt, waitMs }, 'taking partitions over failed on a Kafka error; trying again');
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  }

  /** Brings new partitions' state to the changelog's, then reads them from their stored positions. */
  private async takeOver(partitions: number[], generation: number): Promise<void> {
    const current = (): boolean => generation === this.generation && !this.stopping && this.failure === null;
    if (!current() || !(await this.handover.take(partitions, current))) return;
    for (const p of partitions) {
      let at = this.writer.reserve(EVENT_HEADER_BYTES);
      if (at === -1) at = await this.reserve(EVENT_HEADER_BYTES, () => Promise.resolve());
      this.writer.commit(writeLogMarkRecord(this.writer.view, at, RecordKind.Resume, p));
      // Only now: a batch of p taken before its Resume record would be skipped.
      const position = this.stores.logPosition(p);
      this.next.set(p, position);
      this.consumer.seek({ topic: this.config.topic, partition: p, offset: String(position.offset) });
    }
    this.writer.publish();
    for (const s of new Set(partitions.map((p) => storeOf(p, this.stores.layout.stores)))) this.changelog.activate(s);
    this.consumer.resume([{ topic: this.config.topic, partitions }]);
    this.log.info({ partitions }, 'partitions taken over');
  }

  private async take({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    const p = batch.partition;
    const next = this.next.get(p);
    if (next === undefined || this.failure !== null) return;
    for (const message of batch.messages) {
      const offset = Number(message.offset);
      if (offset < next.offset) continue;
      if (offset > next.offset) return this.fail(new Error(`events topic partition ${p} has no message ${next.offset} (its first is ${offset}): the state of the partition ends there, and the topic no longer holds what follows it`));
      if (message.headers?.[LOG_BATCH_HEADER] === undefined) {
        if (next.applied === 0) await this.takePlain(p, offset, message.key, message.value, message.timestamp, heartbeat);
      } else {
        const value = message.value ?? Buffer.alloc(0);
        try {
          this.batch.open(value);
        } catch (error) {
          return this.fail(new Error(`events topic partition ${p}, offset ${offset}: ${(error as Error).message}`));
        }
        const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
        for (let i = 0; i < this.batch.count; i++) {
          this.batch.next();
          if (i < next.applied) continue;
          const start = this.batch.recordAt;
          const length = this.batch.recordLength;
          if (!isWholeEventRecord(view, start, length) || view.getUint16(start, true) !== p) return this.fail(new Error(`events topic partition ${p}, offset ${offset}: record ${i} is not an event record of partition ${p}`));
          let at = this.writer.reserve(length);
          if (at === -1) at = await this.reserve(length, heartbeat); // only when the ring is full: no promise per record
          value.copy(this.writer.bytes, at, start, start + length);
          this.writer.commit(length);
        }
      }
      let at = this.writer.reserve(EVENT_HEADER_BYTES);
      if (at === -1) at = await this.reserve(EVENT_HEADER_BYTES, heartbeat);
      this.writer.commit(writeLogMarkRecord(this.writer.view, at, RecordKind.LogPosition, p, offset + 1));
      next.offset = offset + 1;
      next.applied = 0;
    }
    this.writer.publish();
    this.readProgress();
  }

  /** A message a producer outside the engine wrote: its event as a record, or nothing if it is not one. */
  private async takePlain(p: number, offset: number, key: Buffer | null, value: Buffer | null, timestamp: string, heartbeat: () => Promise<void>): Promise<void> {
    const { reader } = this.plain;
    try {
      reader.read(p, key, value, timestamp);
    } catch (error) {
      if (!(error instanceof PlainMessageError)) throw error;
      this.refused(p, offset, error.message);
      return;
    }
    if (!this.plainSeen && this.plain.routes) this.log.warn({ partition: p, offset }, 'the events topic holds events written by a producer outside the engine: they are merged into their keys, routes do not apply to them');
    this.plainSeen = true;
    const maxBytes = reader.recordMaxBytes;
    let at = this.writer.reserve(maxBytes);
    if (at === -1) at = await this.reserve(maxBytes, heartbeat);
    this.writer.commit(writeEventRecord(this.writer.bytes, this.writer.view, at, p, reader.key, reader.keyHash, reader.type, reader.ts, NO_PRODUCER, RecordKind.Merge, 1, reader.data));
  }

  private refused(partition: number, offset: number, reason: string): void {
    this.plain.stats.refusedMessages[0]!++;
    const now = Date.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) {
      this.refusalsNotLogged++;
      return;
    }
    this.log.warn({ partition, offset, reason, alsoRefusedSinceLastLog: this.refusalsNotLogged }, `events topic partition ${partition}, offset ${offset}: skipped, not an event: ${reason}`);
    this.lastRefusalLog = now;
    this.refusalsNotLogged = 0;
  }

  /** Room in the ring for `length` bytes once the ring is full: waits (and heartbeats) while the loop catches up. */
  private async reserve(length: number, heartbeat: () => Promise<void>): Promise<number> {
    let at: number;
    while ((at = this.writer.reserve(length)) === -1) {
      this.writer.publish();
      this.readProgress();
      await this.writer.waitForSpace(WAIT_FOR_SPACE_MS);
      await heartbeat();
    }
    return at;
  }

  /** Releases the loop's progress reports (its acks are the forwarder's); a Fatal one stops reading. */
  private readProgress(): void {
    let at: number;
    while ((at = this.progress.next()) !== -1) {
      if (outboundKind(this.progress.view, at) !== ProgressKind.Fatal) continue;
      this.failure ??= new Error(readProgressRecord(this.progress.bytes, this.progress.view, at).message);
    }
    if (this.progress.pendingRecords() > 0) this.progress.release();
  }

  private fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.log.fatal({ err: error }, 'cannot apply the events topic; the engine stops');
    this.onFatal(error);
  }
}
