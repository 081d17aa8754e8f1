// Cluster mode: writes what this worker's stores change to the changelog topic, so that the host
// the group gives a store next restores its state from there instead of re-applying the events
// topic from its start (changelog-format.ts has the topic's layout).
//
// The partition loop stages each changed key (a user key, or a producer's mark) in its commit, in
// the store's `unlogged` database as well as here, so a restart still writes it. Every
// FLUSH_INTERVAL_MS a store with staged keys writes them in one Kafka transaction, with their
// values and each partition's position read from LMDB in the same event-loop turn (so as of one
// commit: a consistent state and the position it reflects). The transaction also commits the
// positions as offsets of the changelog group, and the store's transactional id
// (`<group>.store.<s>`) fences a host that held the store before: its late writes fail.
//
// A store writes only while this worker holds it (claim … activate … release): a store that moved
// to another host keeps its staged keys, and writes them if it comes back unchanged in between.
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { KafkaConfig } from '../shared/config.js';
import { sendToEveryPartition } from '../shared/kafka-client.js';
import type { Logger } from '../shared/logger.js';
import { partitionOf, partitionsOfStore } from '../shared/partition.js';
import { encodeChangelogPosition, type ChangelogPosition, type StoreSet, type Store, type UnloggedKey, type ProducerKey } from '../shared/store.js';
import { changelogGroup, changelogTopic, parseChangelogKey, POSITION_KEY, positionMetadata, samePosition } from '../shared/changelog-format.js';

/** How often a store writes its changes: longer coalesces more writes of hot keys into one. */
const FLUSH_INTERVAL_MS = 200;
/**
 * A store that changed nothing for this long commits its offsets again: Kafka expires a group's
 * offsets that long unused (offsets.retention.minutes, 7 days by default), and a store whose
 * offsets expired would be restored from nothing.
 */
const REFRESH_MS = 24 * 60 * 60 * 1000;
/** Bytes of one send within a transaction: Kafka takes one record batch per partition per request. */
const SEND_BYTES = 512 * 1024;
const NOTHING = Buffer.alloc(0);

interface PartitionWrite {
  partition: number;
  keys: Set<string>;
  position: ChangelogPosition;
}

export class ChangelogWriter {
  private readonly topic: string;
  /** Per partition: keys staged since the last write began. */
  private readonly staged: Set<string>[];
  /** Stores held by this worker: their producer, and whether they write yet (restored). */
  private readonly producers = new Map<number, Producer>();
  private readonly active = new Set<number>();
  private readonly writing = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly refresher: NodeJS.Timeout;
  private lastFlush = 0;
  /** Per store: when its offsets were last committed. */
  private readonly committedAt = new Map<number, number>();
  private stopped = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: KafkaConfig,
    private readonly stores: StoreSet,
    ownedStores: readonly number[],
    private readonly log: Logger,
  ) {
    const { partitions } = stores.layout;
    this.topic = changelogTopic(config.topic);
    this.staged = Array.from({ length: partitions }, () => new Set<string>());
    // What a predecessor (an earlier process, or thread) committed and did not write yet.
    for (const s of ownedStores) {
      for (const [p, key] of stores.store(s).unlogged.getKeys() as Iterable<UnloggedKey>) this.staged[p]!.add(key);
    }
    this.refresher = setInterval(() => {
      for (const s of this.active) if (Date.now() - (this.committedAt.get(s) ?? 0) > REFRESH_MS && !this.writing.has(s)) this.startWrite(s, true);
    }, REFRESH_MS / 24).unref();
  }

  /** In the loop's commit transaction: `key` of partition p changed. */
  stage(store: Store, p: number, key: string): void {
    store.unlogged.putSync([p, key] as UnloggedKey, NOTHING);
    this.staged[p]!.add(key);
  }

  /** Stages every record of partition p (its state was never written to the changelog). */
  stageAll(p: number): void {
    const store = this.stores.ofPartition(p);
    store.root.transactionSync(() => {
      for (const key of keysOfPartition(store, p, this.stores.layout.partitions)) this.stage(store, p, key);
    });
  }

  /** Forgets partition p's staged keys (its state is being replaced). */
  forget(p: number): void {
    this.staged[p]!.clear();
  }

  /** After a commit: a write is due within FLUSH_INTERVAL_MS. */
  schedule(): void {
    if (this.timer !== null || this.stopped) return;
    const wait = Math.max(0, this.lastFlush + FLUSH_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.lastFlush = Date.now();
      for (const s of this.active) if (!this.writing.has(s)) this.startWrite(s);
    }, wait);
  }

  /**
   * Takes store s for this worker: its transactional producer starts, which fences any earlier
   * holder (its transaction in flight is aborted, its later ones fail), so the changelog is final
   * when this resolves. The store does not write until activate(s).
   */
  async claim(s: number): Promise<void> {
    await this.release(s);
    const producer = this.kafka.producer({ transactionalId: `${this.config.group}.store.${s}`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    // A transaction's start is when kafkajs registers the transactional id (and so fences).
    const fence = await producer.transaction();
    await fence.abort();
    this.producers.set(s, producer);
    this.committedAt.set(s, 0);
  }

  activate(s: number): void {
    if (!this.producers.has(s)) return;
    this.active.add(s);
    this.schedule();
  }

  /** Store s is no longer this worker's: it stops writing (after a write in flight). */
  async release(s: number): Promise<void> {
    this.active.delete(s);
    await this.writing.get(s);
    const producer = this.producers.get(s);
    this.producers.delete(s);
    await producer?.disconnect();
  }

  /** Writes what is staged of the active stores, then releases every store. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    clearInterval(this.refresher);
    for (const s of this.active) if (!this.writing.has(s)) this.startWrite(s);
    await Promise.all([...this.producers.keys()].map((s) => this.release(s)));
  }

  private startWrite(s: number, refresh = false): void {
    const writes = this.collect(s);
    if (writes.length === 0 && !refresh) return;
    const done = this.write(s, writes).finally(() => {
      this.writing.delete(s);
      if (writes.some((w) => this.staged[w.partition]!.size > 0)) this.schedule();
    });
    this.writing.set(s, done);
  }

  /** Store s's partitions with staged keys or a moved position; takes their staged keys. */
  private collect(s: number): PartitionWrite[] {
    const writes: PartitionWrite[] = [];
    for (const p of partitionsOfStore(s, this.stores.layout)) {
      const at = this.stores.logPosition(p);
      const keys = this.staged[p]!;
      if (keys.size === 0 && samePosition(at, this.stores.loggedPosition(p) ?? { offset: 0, applied: 0 })) continue;
      writes.push({ partition: p, keys, position: { ...at, engineOffset: this.stores.appliedOffset(p) } });
      this.staged[p] = new Set();
    }
    return writes;
  }

  private async write(s: number, writes: PartitionWrite[]): Promise<void> {
    const producer = this.producers.get(s)!;
    const store = this.stores.store(s);
    // Read now, in the turn the positions were read: the values are those of the same commit.
    const messages: Message[] = [];
    for (const { partition, keys, position } of writes) {
      for (const key of keys) messages.push({ partition, key, value: valueOf(store, partition, key) });
      messages.push({ partition, key: POSITION_KEY, value: encodeChangelogPosition(position) });
    }
    // Every partition of the store with a position, written now or before: see REFRESH_MS.
    const written = new Map(writes.map((w) => [w.partition, w.position]));
    const offsets = [];
    for (const p of partitionsOfStore(s, this.stores.layout)) {
      const position = written.get(p) ?? this.stores.loggedPosition(p);
      if (position !== undefined) offsets.push({ partition: p, offset: String(position.offset), metadata: positionMetadata(position) });
    }
    try {
      const transaction = await producer.transaction();
      try {
        for (const chunk of chunks(messages)) await sendToEveryPartition((pending) => transaction.send({ topic: this.topic, messages: pending }), chunk, this.log);
        if (offsets.length > 0) await transaction.sendOffsets({ consumerGroupId: changelogGroup(this.config.group), topics: [{ topic: this.config.topic, partitions: offsets }] });
        await transaction.commit();
        this.committedAt.set(s, Date.now());
      } catch (error) {
        if (transaction.isActive()) await transaction.abort().catch(() => undefined);
        throw error;
      }
    } catch (error) {
      // Not written: the keys are staged again (the values are read anew at the next write).
      for (const { partition, keys } of writes) for (const key of keys) this.staged[partition]!.add(key);
      const fenced = /fenced|epoch/i.test((error as Error).message);
      this.log.warn({ err: error, store: s, fenced }, fenced ? 'another host holds this store now; this worker stops writing its changelog' : 'changelog write failed; it is retried');
      if (fenced) this.active.delete(s);
      return;
    }
    store.root.transactionSync(() => {
      for (const { partition, keys, position } of writes) {
        // A key staged again since is still unwritten.
        for (const key of keys) if (!this.staged[partition]!.has(key)) store.unlogged.removeSync([partition, key] as UnloggedKey);
        store.logged.putSync(partition, encodeChangelogPosition(position));
      }
    });
  }
}

/** The current value of a staged key (null: none any more, a tombstone for compaction). */
function valueOf(store: Store, p: number, key: string): Buffer | null {
  const entry = parseChangelogKey(key);
  if (entry.kind === 'record') return store.meta.getBinary(entry.key) ?? null;
  if (entry.kind === 'mark') return store.producers.getBinary([p, entry.producer] as ProducerKey) ?? null;
  throw new Error('a position is never staged');
}

function* chunks(messages: Message[]): Generator<Message[]> {
  let chunk: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    chunk.push(message);
    bytes += (message.value as Buffer | null)?.length ?? 0;
    bytes += Buffer.byteLength(message.key as string);
    if (bytes >= SEND_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** The user keys of partition p in its store (a scan of the store: for restores and upgrades only). */
export function* keysOfPartition(store: Store, p: number, partitions: number): Generator<string> {
  for (const key of store.meta.getKeys()) if (partitionOf(key, partitions) === p) yield key;
}
