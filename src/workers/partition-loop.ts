// A partition worker's loop: drain its inbound rings (one per acceptor, taken in turn so that a
// flooding acceptor cannot starve the others) in batches, apply each event to its key's metadata
// record in memory and give it its partition's next offset, commit the batch in one LMDB write
// transaction per store (records, partition offsets, ring marks), release the ring space, and
// report progress to each acceptor on its outbound ring — after the commit in `async` mode, after
// the fsync that covers it in `sync` mode.
//
// In cluster mode (HUNT_KAFKA_BROKERS) the loop's one source is the log ring its worker's log reader
// fills from the Kafka events topic (log-reader.ts), while the acceptors' rings carry only change
// notices out (their records go to Kafka through the forwarder, log-forwarder.ts). Each commit then
// also writes, per partition, where in the topic its applied state ends (LogPosition records mark
// the ends of messages), and a record of an idempotent producer whose seq the partition applied
// already is skipped here: a re-send may reach Kafka twice, through any host. Each commit also
// stages the keys it changed for the changelog topic (changelog-writer.ts). When a partition comes
// to this worker, the log reader holds the loop between batches while the partition's state is
// replaced (partition-handover.ts); the partition's records already in the ring are then skipped
// up to the reader's Resume record.
//
// Crash safety: ring records are released only after their commit, and each store's transaction
// records how far through each ring it has applied (a RingMark). A replacement loop re-reads the
// unreleased records and skips those a store already applied, so nothing is lost and nothing is
// applied twice.
//
// A failed commit is a failed batch: nothing of it is applied, and its pubs get STORAGE (their
// events on other workers may have been applied). Not so when the batch holds events of idempotent
// producers: their seq marks on other partitions, or in later batches, would then make a re-send
// skip what this batch lost, or apply twice what others kept. A failed fsync in `sync` mode is not
// a failed batch either: it is committed and visible, but whether it is on disk is unknown (after
// an I/O error the kernel may drop the dirty pages and a later fsync succeed anyway), so neither an
// ack nor STORAGE would be true. In both cases the loop reports Fatal and stops before anything
// later commits; the engine closes its connections and exits, and idempotent producers re-send with
// their seqs after the restart: each partition applies exactly what it had not.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { EventRecordReader, RecordKind } from '../shared/event-record.js';
import type { Logger } from '../shared/logger.js';
import type { MetaRecord } from '../shared/metadata.js';
import { msgpack } from '../shared/msgpack.js';
import { ProgressKind } from '../shared/progress-record.js';
import { waitForAnyRing, type RingReader } from '../shared/ring.js';
import { decodeMeta, encodeMeta } from '../shared/meta-codec.js';
import { decodeProducerState, encodeLogPosition, encodeProducerState, encodeRingMark, flushToDisk, type ProducerKey, type StoreSet } from '../shared/store.js';
import { storeOf } from '../shared/partition.js';
import type { PartitionWorkerResult, PartitionWorkerTask, WorkerFault } from '../shared/worker-task.js';
import { applyDefaultMerge, newMetaRecord } from './default-merge.js';
import { CachedRecord, RecordCache } from './record-cache.js';
import type { UpdateDoc } from '../shared/update-ops.js';
import { applyRoutedUpdate, applyUpdateRecord, type OperationError } from './update-operators.js';
import { UpdateReader } from './update-reader.js';
import { mergeFlatMap } from './flat-merge.js';
import { Utf8Interner } from '../shared/utf8-interner.js';
import { INTEREST_COMMITS, isOfInterest } from '../shared/interest.js';
import { PartitionLogWriter } from './log-writer.js';
import { WorkerStats } from '../shared/worker-stats.js';
import { TerminationGuard } from '../shared/termination-guard.js';
import { AcceptorRings } from './acceptor-rings.js';
import type { ChangelogWriter } from './changelog-writer.js';
import { markKey } from '../shared/changelog-format.js';

/** Empty polls (each one event-loop turn) before the loop sleeps on the ring. */
const SPIN_TURNS = 4;
/** Longest sleep between checks of the ring when idle. */
const IDLE_WAIT_MS = 1000;
/** Records taken from one ring before the next ring's turn. */
const RING_TURN_RECORDS = 256;
const GROUP_COMMIT_EVENTS = 2000;
const GROUP_COMMIT_WAIT_MS = 1;
/** Where in a batch the mid-drain test fault strikes. */
const FAULT_AFTER_EVENTS = 10;

/** Where the loop's records come from, and where its change notices go. */
export interface LoopRings {
  /** The rings records come from: the acceptors' (one host), or the log ring (cluster mode). */
  sources: AcceptorRings[];
  /** The acceptors' rings, for change notices (the same array as `sources` on one host). */
  notices: AcceptorRings[];
  /** Cluster mode: the sources hold the events topic's records and LogPosition marks. */
  fromLog: boolean;
  /** Cluster mode: where each commit stages what it changed. */
  changelog?: ChangelogWriter;
}

export class PartitionLoop {
  /** The record sources (LoopRings.sources). */
  private readonly rings: AcceptorRings[];
  /** The acceptors' rings, for change notices (LoopRings.notices). */
  private readonly noticeRings: AcceptorRings[];
  private readonly fromLog: boolean;
  private readonly changelog: ChangelogWriter | null;
  /** Cluster mode, per partition: 1 while its records in the ring are from an earlier hold of it (up to its Resume record). */
  private readonly stale: Uint8Array;
  /** Cluster mode: a request to hold between batches (hold()). */
  private holdRequest: { held: (release: () => void) => void } | null = null;
  /** Cluster mode, per partition: the LogPosition its applied state ends at, as of the batch. */
  private readonly logOffset: Float64Array;
  private readonly logApplied: Float64Array;
  /** Partitions whose LogPosition the batch moved, and a flag per partition. */
  private readonly positionPartitions: number[] = [];
  private readonly positionMoved: Uint8Array;
  /** Cluster mode, per partition: the idempotent producer's pub whose records are being read (isNewFromProducer). */
  private readonly runProducer: (string | undefined)[];
  private readonly runSeq: Float64Array;
  private readonly runIsNew: Uint8Array;
  private readonly inbound: RingReader[];
  /** The ring whose turn comes first in the next drain. */
  private nextRing = 0;
  /** Records read from all rings in the current batch (some may have been applied before). */
  private batchRecords = 0;
  private readonly cache: RecordCache;
  /** Offset of the last applied event, per partition (index = partition). */
  private readonly applied: Float64Array;
  /** Last offset given in the current batch, per partition; 0 = untouched. */
  private readonly batchOffsets: Float64Array;
  private readonly touchedPartitions: number[] = [];
  /** Records settled per partition since start (shared: the lag the front end reports). */
  private readonly settled: Float64Array;
  /** Records of the current batch a predecessor had committed, per partition. */
  private readonly batchSkipped: Float64Array;
  private readonly skippedPartitions: number[] = [];
  /** Per ring: through which record the batch being flushed goes (sync mode). */
  private readonly flushThrough: Uint32Array;
  /** Idempotent producers with events in the current batch: highest seq per partition (0: none). */
  private readonly batchProducers = new Map<string, { seqs: Float64Array; touched: number[] }>();
  private readonly dirty: CachedRecord[] = [];
  /** Index of each owned store in ownedStores (-1: not owned), by store number. */
  private readonly storeSlot: Int32Array;
  /** Per owned store: the batch's dirty records, whether the batch touched it, whether it committed. */
  private readonly storeDirty: CachedRecord[][];
  private readonly storeTouched: Uint8Array;
  private readonly storeCommitted: Uint8Array;
  /** sync: owned stores committed since their last flush (all of them at start: a predecessor's commits). */
  private readonly storeUnflushed: Uint8Array;
  private batch = 0;
  private readonly operationErrors: OperationError[] = [];
  private readonly fieldNames = new Utf8Interner();
  /** String values of events and update documents: more of them than names, so a larger table. */
  private readonly stringValues = new Utf8Interner(1024);
  private readonly updateReader = new UpdateReader(this.fieldNames, this.stringValues);
  private readonly stats: WorkerStats;
  private readonly guard: TerminationGuard;
  /** The event log's writer; null when the log is off. */
  private readonly logWriter: PartitionLogWriter | null;
  private operationErrorsLoggedAt = 0;
  private operationErrorsSinceLog = 0;
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  private batchEvents = 0;
  private events = 0;

  // sync durability: the fsync of the last commit, if it is still running.
  private flushInFlight: Promise<void> | null = null;
  /** Set once an fsync failed: nothing more is applied or reported (see the file's comment). */
  private halted = false;

  constructor(
    private readonly task: PartitionWorkerTask,
    private readonly stores: StoreSet,
    private readonly log: Logger,
    rings: LoopRings,
  ) {
    this.rings = rings.sources;
    this.noticeRings = rings.notices;
    this.fromLog = rings.fromLog;
    this.changelog = rings.changelog ?? null;
    this.inbound = this.rings.map((ring) => ring.inbound);
    this.flushThrough = new Uint32Array(Math.max(...this.rings.map((ring) => ring.acceptor)) + 1);
    this.cache = new RecordCache(task.cacheKeys);
    this.stats = new WorkerStats(task.stats);
    this.guard = new TerminationGuard(task.terminationGuard);
    const { partitions } = task.layout;
    this.logWriter = task.logRetentionEvents > 0 ? new PartitionLogWriter(partitions, task.logRetentionEvents, task.logRetentionSeconds) : null;
    this.applied = new Float64Array(partitions);
    this.batchOffsets = new Float64Array(partitions);
    this.settled = new Float64Array(task.settledRecords);
    this.batchSkipped = new Float64Array(partitions);
    for (const p of task.ownedPartitions) this.applied[p] = stores.appliedOffset(p);
    this.logOffset = new Float64Array(partitions);
    this.logApplied = new Float64Array(partitions);
    this.positionMoved = new Uint8Array(partitions);
    this.runProducer = new Array<string | undefined>(partitions).fill(undefined);
    this.runSeq = new Float64Array(partitions);
    this.runIsNew = new Uint8Array(partitions);
    this.stale = new Uint8Array(partitions);
    if (this.fromLog) {
      for (const p of task.ownedPartitions) {
        const position = stores.logPosition(p);
        this.logOffset[p] = position.offset;
        this.logApplied[p] = position.applied;
      }
    }
    this.storeSlot = new Int32Array(task.layout.stores).fill(-1);
    task.ownedStores.forEach((s, slot) => (this.storeSlot[s] = slot));
    this.storeDirty = task.ownedStores.map(() => []);
    this.storeTouched = new Uint8Array(task.ownedStores.length);
    this.storeCommitted = new Uint8Array(task.ownedStores.length);
    this.storeUnflushed = new Uint8Array(task.ownedStores.length).fill(1);
  }

  async run(): Promise<PartitionWorkerResult> {
    // A predecessor may have committed records without reporting them: make them durable, report.
    for (const ring of this.rings) this.flushThrough[ring.acceptor] = ring.reportedThrough;
    if (this.task.durability === 'sync') await this.flushAndReport(null);
    else await this.reportDone(true);
    let idleTurns = 0;
    while (!this.halted) {
      if (this.holdRequest !== null) await this.holdHere();
      // Read before draining: the producers publish everything before they close their rings.
      const closed = this.inbound.every((ring) => ring.isClosed());
      let drained = this.drainBatch();
      if (drained > 0) {
        // sync: the next commit waits for the fsync of the last one, but the batch is drained and
        // merged in memory meanwhile. Events arriving during the wait join the batch, and LMDB
        // writes each touched page once per commit: this beat overlapping commits with fsyncs in
        // both throughput and tail latency (measured:
        // docs/performance.md#measurements-behind-design-decisions).
        if (this.flushInFlight !== null) {
          await this.flushInFlight;
          if (this.halted) break;
          drained += this.drainBatch();
        }
        // async group commit under light load: a commit costs about the same for 100 events as
        // for a few thousand (LMDB copies every touched page), so a small batch waits up to
        // GROUP_COMMIT_WAIT_MS for more. In sync mode the wait for the previous fsync already
        // gathers the batch; waiting more there only added latency (measured: the same page).
        const deadline = performance.now() + GROUP_COMMIT_WAIT_MS;
        while (this.task.durability === 'async' && drained < GROUP_COMMIT_EVENTS && !closed) {
          const left = deadline - performance.now();
          if (left <= 0) break;
          await waitForAnyRing(this.inbound, left);
          drained += this.drainBatch();
        }
        await this.commitBatch();
        idleTurns = 0;
        // Let fsync completions and other callbacks run between batches.
        await yieldToEventLoop();
        continue;
      }
      if (closed) break;
      if (idleTurns++ < SPIN_TURNS) await yieldToEventLoop();
      else await waitForAnyRing(this.inbound, IDLE_WAIT_MS);
    }
    if (this.flushInFlight !== null) await this.flushInFlight;
    // Halted: held here until the engine stops (it closes the rings), never returning early, which
    // would make the supervisor start a loop that reports what this one could not.
    while (this.halted && !this.inbound.every((ring) => ring.isClosed())) await waitForAnyRing(this.inbound, IDLE_WAIT_MS);
    return { worker: this.task.worker, batches: this.batch, events: this.events };
  }

  /**
   * Applies published records in memory until the batch holds batchMaxEvents, taking the rings in
   * turn from a rotating first one; returns how many it read.
   */
  private drainBatch(): number {
    const { rings, task } = this;
    let read = 0;
    let idleRings = 0;
    let r = this.nextRing;
    while (this.batchRecords < task.batchMaxEvents && idleRings < rings.length) {
      const taken = this.drainRing(rings[r]!, Math.min(RING_TURN_RECORDS, task.batchMaxEvents - this.batchRecords));
      read += taken;
      idleRings = taken === 0 ? idleRings + 1 : 0;
      r = r + 1 === rings.length ? 0 : r + 1;
    }
    this.nextRing = r;
    return read;
  }

  /** Applies up to `limit` published records of one ring in memory; returns how many it read. */
  private drainRing(ring: AcceptorRings, limit: number): number {
    const { applied, batchOffsets } = this;
    const { inbound, records } = ring;
    const stores = this.task.layout.stores;
    let read = 0;
    while (read < limit) {
      const at = inbound.next();
      if (at === -1) break;
      read++;
      records.read(at);
      const p = records.partition;
      if (this.fromLog) {
        if (records.kind === RecordKind.Resume) {
          // Not a record of the batch: released with the next batch's records.
          read--;
          this.resumePartition(p);
          continue;
        }
        if (this.stale[p] === 1) continue;
        if (records.kind === RecordKind.LogPosition) {
          this.endProducerRun(p);
          this.logOffset[p] = records.ts;
          this.logApplied[p] = 0;
          this.movePosition(p);
          continue;
        }
        this.logApplied[p]++;
        this.movePosition(p);
        if (records.producer !== '' && !this.isNewFromProducer(records.producer, records.seq, p)) {
          this.skipped(p); // a re-send of what the partition applied (or took in this batch)
          continue;
        }
      } else if (ring.replaying && ring.alreadyApplied(this.storeSlot[storeOf(p, stores)]!)) {
        this.skipped(p); // committed before a crash, not yet released
        continue;
      }
      if (this.batchEvents === FAULT_AFTER_EVENTS) this.maybeFault('mid-drain');
      this.batchEvents++;
      if (batchOffsets[p] === 0) {
        this.touchedPartitions.push(p);
        this.storeTouched[this.storeSlot[storeOf(p, stores)]!] = 1;
        batchOffsets[p] = applied[p]!;
      }
      const offset = ++batchOffsets[p]!;
      if (records.producer !== '' && !this.fromLog) this.noteProducerSeq(records.producer, p, records.seq);
      const record = this.recordFor(records);
      if (records.kind === RecordKind.Merge) {
        const empty = records.dataEnd === records.dataStart;
        const flat = !empty && mergeFlatMap(record.meta.fields, records.buf, inbound.view, records.dataStart, records.dataEnd, this.fieldNames, this.stringValues);
        applyDefaultMerge(record.meta, records.type, records.ts, empty || flat ? null : this.unpackData(inbound.bytes, records.dataStart, records.dataEnd));
      } else {
        this.applyRouted(record, records, inbound);
      }
      this.logWriter?.stage(p, offset, records.kind, records.updates, records.ts, record.meta.version, inbound.bytes, records.keyStart, records.keyEnd, records.typeEnd, records.dataStart, records.dataEnd);
      if (record.dirtyIn !== this.batch) {
        record.dirtyIn = this.batch;
        this.dirty.push(record);
      }
    }
    this.batchRecords += read;
    return read;
  }

  /** Applies a routed or fan-out record's update document to its key's record. */
  private applyRouted(record: CachedRecord, reader: EventRecordReader, ring: RingReader): void {
    const { meta } = record;
    if (!applyUpdateRecord(meta, reader, ring.view, this.updateReader, this.operationErrors)) {
      const doc = this.unpackData(ring.bytes, reader.dataStart, reader.dataEnd) as UpdateDoc;
      applyRoutedUpdate(meta, reader.kind === RecordKind.Routed, reader.type, reader.ts, doc, this.operationErrors, reader.updates);
    }
    if (this.operationErrors.length > 0) this.reportOperationErrors(record.key);
  }

  /**
   * An operator that did not fit the record (e.g. $inc of a string) was skipped; the rest of the
   * event applied. Counted for GET /metrics; logged at most once a second, with how many were
   * skipped since.
   */
  private reportOperationErrors(key: string): void {
    for (const error of this.operationErrors) this.stats.countSkipped(error.operator);
    this.operationErrorsSinceLog += this.operationErrors.length;
    const now = Date.now();
    if (now - this.operationErrorsLoggedAt >= 1000) {
      this.log.warn({ key, errors: this.operationErrors, skippedSinceLastLog: this.operationErrorsSinceLog }, 'route operations skipped: they do not fit the record');
      this.operationErrorsLoggedAt = now;
      this.operationErrorsSinceLog = 0;
    }
    this.operationErrors.length = 0;
  }

  /**
   * The test-only fault hook (worker-task.ts, WorkerFault), once, at its point: ends this thread,
   * or at `flush` throws the error a failed fsync would.
   */
  private maybeFault(point: WorkerFault['point'], batch = this.batch): void {
    const fault = this.task.fault;
    if (fault === undefined || fault.point !== point || batch < fault.batch) return;
    if (Atomics.compareExchange(new Int32Array(fault.fired), 0, 0, 1) !== 0) return;
    if (point === 'flush') {
      this.log.warn({ point, batch }, 'test fault: failing this fsync');
      throw new Error('test fault: EIO: i/o error, fsync');
    }
    this.log.warn({ point, batch }, 'test fault: ending this worker thread');
    process.exit(70);
  }

  /** Cluster mode: the log cannot be applied (log-reader.ts); stops here as after a storage fault. */
  async halt(message: string): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    await this.reportFatalToAcceptors(message);
  }

  /**
   * Cluster mode: resolves once the loop is between batches (nothing applied and not committed),
   * with the function that lets it go on; until then it applies nothing.
   */
  hold(): Promise<() => void> {
    return new Promise((held) => (this.holdRequest = { held }));
  }

  private async holdHere(): Promise<void> {
    const { held } = this.holdRequest!;
    this.holdRequest = null;
    await new Promise<void>((release) => held(release));
  }

  /**
   * Cluster mode, while held: the partitions' state in LMDB is being replaced, so nothing of it is
   * kept in memory, and their records in the ring are skipped up to their Resume record.
   */
  resetPartitions(partitions: number[]): void {
    this.cache.clear();
    for (const p of partitions) this.stale[p] = 1;
  }

  /** Cluster mode: the reader reads partition p anew from its stored position: the loop goes on from there. */
  private resumePartition(p: number): void {
    const position = this.stores.logPosition(p);
    this.logOffset[p] = position.offset;
    this.logApplied[p] = position.applied;
    this.applied[p] = this.stores.appliedOffset(p);
    this.runProducer[p] = undefined;
    this.stale[p] = 0;
  }

  /** Cluster mode: the batch will write partition p's LogPosition. */
  private movePosition(p: number): void {
    if (this.positionMoved[p] === 1) return;
    this.positionMoved[p] = 1;
    this.positionPartitions.push(p);
    this.storeTouched[this.storeSlot[storeOf(p, this.task.layout.stores)]!] = 1;
  }

  /**
   * Cluster mode: whether a record of an idempotent producer's pub is new to partition p. A pub's
   * records of one partition follow each other within one message of the topic (one acceptor ring,
   * one forwarder send), so they are one run that is applied, or skipped as a re-send, whole. A
   * run's seq becomes the partition's mark only where the run ends (a record of another pub, or
   * the message's end): a commit that cuts a run leaves the mark before it, and a restart applies
   * the rest of the run (the LogPosition skips the part already applied).
   */
  private isNewFromProducer(producer: string, seq: number, p: number): boolean {
    if (this.runProducer[p] === producer && this.runSeq[p] === seq) return this.runIsNew[p] === 1;
    this.endProducerRun(p);
    const isNew = seq > this.producerMark(producer, p);
    this.runProducer[p] = producer;
    this.runSeq[p] = seq;
    this.runIsNew[p] = isNew ? 1 : 0;
    return isNew;
  }

  /** Cluster mode: the producer run of partition p (if any) is over; an applied one moves the mark. */
  private endProducerRun(p: number): void {
    const producer = this.runProducer[p];
    if (producer === undefined) return;
    if (this.runIsNew[p] === 1) this.noteProducerSeq(producer, p, this.runSeq[p]!);
    this.runProducer[p] = undefined;
  }

  /** The highest seq of `producer` partition p applied, this batch included (0: none). */
  private producerMark(producer: string, p: number): number {
    const inBatch = this.batchProducers.get(producer)?.seqs[p] ?? 0;
    if (inBatch > 0) return inBatch;
    const stored = this.stores.ofPartition(p).producers.getBinary([p, producer] as ProducerKey);
    return stored === undefined ? 0 : decodeProducerState(stored).seq;
  }

  private noteProducerSeq(producer: string, partition: number, seq: number): void {
    let marks = this.batchProducers.get(producer);
    if (marks === undefined) {
      marks = { seqs: new Float64Array(this.task.layout.partitions), touched: [] };
      this.batchProducers.set(producer, marks);
    }
    if (marks.seqs[partition] === 0) marks.touched.push(partition);
    // The front end enqueues a producer's pubs in seq order, so the last one seen is the highest.
    marks.seqs[partition] = seq;
  }

  /**
   * Decodes an event's data from the ring. The bytes are first copied into an ordinary buffer:
   * msgpackr's native string extraction cannot read a SharedArrayBuffer and falls back through a
   * thrown exception per call, which cost more than the whole rest of the loop.
   */
  private unpackData(ring: Buffer, start: number, end: number): Record<string, unknown> {
    const length = end - start;
    if (this.scratch.length < length) this.scratch = Buffer.allocUnsafeSlow(Math.max(length, this.scratch.length * 2));
    ring.copy(this.scratch, 0, start, end);
    return msgpack.unpack(this.scratch, length) as Record<string, unknown>;
  }

  private recordFor(reader: EventRecordReader): CachedRecord {
    const { keyHash, keyStart, keyEnd, buf } = reader;
    let record = this.cache.get(keyHash, buf, keyStart, keyEnd);
    if (record === undefined) {
      const key = reader.key();
      const store = storeOf(reader.partition, this.task.layout.stores);
      const stored = this.stores.store(store).meta.getBinary(key);
      const meta: MetaRecord = stored === undefined ? newMetaRecord(reader.ts) : decodeMeta(stored);
      record = new CachedRecord(key, keyHash, store, meta);
      this.cache.add(record);
    }
    return record;
  }

  private async commitBatch(): Promise<void> {
    const { dirty, touchedPartitions, batchOffsets, applied, storeDirty, rings } = this;
    const started = performance.now();
    this.stats.batchEvents.observe(this.batchEvents);
    for (let i = 0; i < dirty.length; i++) storeDirty[this.storeSlot[dirty[i]!.store]!]!.push(dirty[i]!);
    let failure: Error | null = null;
    // Records of idempotent producers in a failed batch make the failure fatal (see the file's comment).
    let fatal = false;
    const seenMs = Date.now();
    // One write transaction per owned store the batch touched, each with everything of its own
    // partitions (records, offsets, log segments, producer marks) and its ring marks, so a store is
    // never half updated.
    for (let slot = 0; slot < storeDirty.length && failure === null; slot++) {
      const s = this.task.ownedStores[slot]!;
      if (!this.storeTouched[slot]) continue;
      try {
        this.commitStore(s, storeDirty[slot]!, seenMs);
        this.storeCommitted[slot] = 1;
        this.storeUnflushed[slot] = 1;
      } catch (error) {
        failure = error as Error;
      }
      if (failure === null) this.maybeFault('mid-commit');
    }
    if (failure === null) {
      this.maybeFault('after-commit');
      this.collectNotices();
      this.changelog?.schedule();
      this.events += this.batchEvents;
    } else {
      // In cluster mode the batch's records stay in Kafka, behind the stored positions: only a
      // restart reads them again, so the loop must not go on past them.
      fatal = this.batchProducers.size > 0 || this.fromLog;
      this.log.error({ err: failure, records: this.batchRecords }, 'batch commit failed; its events are not applied');
    }
    for (let slot = 0; slot < storeDirty.length; slot++) {
      // A store that did not commit: its in-memory records hold the failed batch's changes, so
      // they are forgotten (LMDB has the truth), and so are its partitions' progress.
      if (this.storeCommitted[slot] === 0) for (const record of storeDirty[slot]!) this.cache.forget(record);
      storeDirty[slot]!.length = 0;
    }
    for (let i = 0; i < touchedPartitions.length; i++) {
      const p = touchedPartitions[i]!;
      // Applied or failed, the batch's events of the partition are settled.
      this.settled[p] = this.settled[p]! + batchOffsets[p]! - applied[p]!;
      if (this.storeCommitted[this.storeSlot[storeOf(p, this.task.layout.stores)]!] === 1) applied[p] = batchOffsets[p]!;
      batchOffsets[p] = 0;
    }
    if (failure === null) this.logWriter?.finish();
    else this.logWriter?.discard();
    this.storeTouched.fill(0);
    this.storeCommitted.fill(0);
    touchedPartitions.length = 0;
    for (const p of this.positionPartitions) this.positionMoved[p] = 0;
    this.positionPartitions.length = 0;
    this.batchProducers.clear();
    dirty.length = 0;
    this.batchEvents = 0;
    this.batchRecords = 0;
    this.batch++;
    this.cache.trim();
    this.settleSkipped();
    for (const ring of rings) this.flushThrough[ring.acceptor] = ring.inbound.pendingRecords() > 0 ? ring.inbound.release() : ring.inbound.releasedRecords();

    // No fsync is in flight here (the loop waits for it before draining), so reports stay in order.
    if (failure !== null) {
      const kind = fatal ? ProgressKind.Fatal : ProgressKind.Failed;
      if (fatal) {
        this.halted = true;
        this.log.fatal({ err: failure }, 'batch commit failed with idempotent producers\' events in it; this worker stops and the engine with it');
      }
      for (const ring of rings) {
        const through = this.flushThrough[ring.acceptor]!;
        if (through === ring.reportedThrough) continue;
        await ring.report({ kind, from: ring.reportedThrough, through, message: `storage: ${failure.message}` });
        if (!fatal) ring.reportedThrough = through;
      }
      if (fatal && this.fromLog) await this.reportFatalToAcceptors(`storage: ${failure.message}`);
      return;
    }
    if (this.task.durability === 'async') {
      this.stats.commitSeconds.observe((performance.now() - started) / 1000);
      await this.reportDone();
    } else {
      this.flushInFlight = this.flushAndReport(started, this.batch - 1);
    }
  }

  /**
   * A record a predecessor committed is settled again with this batch (its acceptor counted it
   * once, and the predecessor never released it).
   */
  private skipped(p: number): void {
    if (this.batchSkipped[p] === 0) this.skippedPartitions.push(p);
    this.batchSkipped[p]++;
  }

  /** Counts the batch's skipped records as settled once the ring is released. */
  private settleSkipped(): void {
    const { settled, batchSkipped, skippedPartitions } = this;
    for (let i = 0; i < skippedPartitions.length; i++) {
      const p = skippedPartitions[i]!;
      settled[p] = settled[p]! + batchSkipped[p]!;
      batchSkipped[p] = 0;
    }
    skippedPartitions.length = 0;
  }

  /**
   * Sends each ring its notices and a Done report through flushThrough: to every ring at start (the
   * acceptor learns what a predecessor committed), else to those that had records in the batch and
   * those whose acceptor runs log follows (it reads what each commit added).
   */
  private async reportDone(everyRing = false): Promise<void> {
    if (this.fromLog) {
      // The acceptors' progress is the forwarder's (their records go to Kafka): they get the
      // notices, and a report of nothing new after which they read the commit (log follows, gets).
      for (const ring of this.noticeRings) {
        if (!everyRing && ring.notices.length === 0 && ring.interest[INTEREST_COMMITS] !== 1) continue;
        await ring.sendNotices();
        await ring.report({ kind: ProgressKind.Done, from: ring.reportedThrough, through: ring.reportedThrough, message: '' });
      }
    }
    for (const ring of this.rings) {
      const through = this.flushThrough[ring.acceptor]!;
      if (!everyRing && through === ring.reportedThrough && ring.notices.length === 0 && ring.interest[INTEREST_COMMITS] !== 1) continue;
      await ring.sendNotices();
      await ring.report({ kind: ProgressKind.Done, from: ring.reportedThrough, through, message: '' });
      ring.reportedThrough = through;
    }
  }

  /** Cluster mode: the acceptors hear of a fatal fault from here (their own rings' progress is the forwarder's). */
  private async reportFatalToAcceptors(message: string): Promise<void> {
    for (const ring of this.noticeRings) {
      ring.notices.length = 0;
      await ring.report({ kind: ProgressKind.Fatal, from: ring.reportedThrough, through: ring.reportedThrough, message });
    }
  }

  /** Commits the batch's changes of store `s`: `records` and its touched partitions' progress, log and marks. */
  private commitStore(s: number, records: CachedRecord[], seenMs: number): void {
    const store = this.stores.store(s);
    const { touchedPartitions, batchOffsets, changelog } = this;
    const { stores, partitions } = this.task.layout;
    this.guard.critical(() =>
      store.root.transactionSync(() => {
        for (let i = 0; i < records.length; i++) {
          const record = records[i]!;
          store.meta.putSync(record.key, encodeMeta(record.meta));
          changelog?.stage(store, record.keyHash % partitions, record.key);
        }
        for (let i = 0; i < touchedPartitions.length; i++) {
          const p = touchedPartitions[i]!;
          if (storeOf(p, stores) !== s) continue;
          store.partitions.putSync(p, batchOffsets[p]!);
          this.logWriter?.writePartition(store, p);
        }
        for (const [producer, marks] of this.batchProducers) {
          for (const p of marks.touched) {
            if (storeOf(p, stores) !== s) continue;
            store.producers.putSync([p, producer] as ProducerKey, encodeProducerState({ seq: marks.seqs[p]!, seenMs }));
            changelog?.stage(store, p, markKey(producer));
          }
        }
        for (const p of this.positionPartitions) {
          if (storeOf(p, stores) === s) store.positions.putSync(p, encodeLogPosition({ offset: this.logOffset[p]!, applied: this.logApplied[p]! }));
        }
        // The log ring needs no marks: a restarted loop reads the topic again from the positions.
        for (const ring of this.rings) {
          if (!this.fromLog && ring.inbound.pendingRecords() > 0) store.rings.putSync(ring.acceptor, encodeRingMark(ring.readThrough()));
        }
      }),
    );
  }

  /**
   * After a commit: notices for the changed records that may have subscribers, for each acceptor
   * that may have one. The interest flags are read after the commit, so a subscription made before
   * it ended sees this change either here or in the snapshot its `sub` answer reads (subscriptions.ts).
   */
  private collectNotices(): void {
    const { dirty, noticeRings: rings } = this;
    for (let i = 0; i < dirty.length; i++) {
      const record = dirty[i]!;
      let key: Uint8Array | null = null;
      let meta: Uint8Array | null = null;
      for (let r = 0; r < rings.length; r++) {
        const ring = rings[r]!;
        if (!isOfInterest(ring.interest, record.keyHash)) continue;
        key ??= record.keyBytes();
        meta ??= Buffer.from(encodeMeta(record.meta));
        ring.notices.push(key, meta);
      }
    }
  }

  /**
   * fsyncs everything committed so far (through batch `batch`; -1: a predecessor's), then reports
   * it through flushThrough; a failed fsync halts the loop and reports Fatal (see the file's comment).
   */
  private async flushAndReport(commitStarted: number | null, batch = -1): Promise<void> {
    try {
      // The stores' flushes run side by side on the libuv pool.
      const flushes: Promise<void>[] = [];
      for (let slot = 0; slot < this.storeUnflushed.length; slot++) {
        if (this.storeUnflushed[slot] === 0) continue;
        this.storeUnflushed[slot] = 0;
        flushes.push(flushToDisk(this.stores.store(this.task.ownedStores[slot]!)));
      }
      await Promise.all(flushes);
      this.maybeFault('flush', batch);
    } catch (error) {
      this.halted = true;
      this.log.fatal({ err: error }, 'fsync failed: committed batches may not be on disk; this worker stops and the engine with it');
      for (const ring of this.rings) {
        ring.notices.length = 0;
        await ring.report({ kind: ProgressKind.Fatal, from: ring.reportedThrough, through: this.flushThrough[ring.acceptor]!, message: `storage: fsync failed: ${(error as Error).message}` });
      }
      if (this.fromLog) await this.reportFatalToAcceptors(`storage: fsync failed: ${(error as Error).message}`);
      this.flushInFlight = null;
      return;
    }
    if (commitStarted !== null) this.stats.commitSeconds.observe((performance.now() - commitStarted) / 1000);
    await this.reportDone(commitStarted === null);
    this.flushInFlight = null;
  }
}
