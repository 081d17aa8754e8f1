// Idempotent producers, as the front end sees them: for each producer name, the highest `seq`
// taken into each partition's ring. An event of a pub whose seq is not above that partition's mark
// was taken before (or applied before a crash) and is not enqueued again.
//
// The marks are loaded at start-up from what the workers committed (the `producers` database is
// written in the same transaction as the events), so they survive restarts and crashes; while the
// engine runs they move when events enter a ring, which is the point from which an event will be
// applied even if its worker thread dies (the ring keeps it for the replacement loop).
//
// Bounded: at most `maxProducers` are known; a producer that has not written for `ttlMs` and is not
// connected is forgotten (here and in LMDB), after which a re-send of its old pubs would be applied
// again. The same name connecting again fences the older connection off.
import type { Logger } from '../../shared/logger.js';
import { decodeProducerState, type ProducerKey, type StoreSet } from '../../shared/store.js';
import type { Connection } from '../connections/connection.js';

export interface Producer {
  readonly name: string;
  /** UTF-8 bytes of the name. */
  readonly nameBytes: number;
  /** Highest seq taken into each partition's ring (0: none). */
  readonly seqs: Float64Array;
  lastSeenMs: number;
  conn: Connection | null;
}

export interface ProducerLimits {
  maxProducers: number;
  ttlMs: number;
}

/** WebSocket close code sent to a connection whose producer name said hello elsewhere. */
export const FENCED_CLOSE_CODE = 4001;

export class ProducerRegistry {
  private readonly producers = new Map<string, Producer>();

  private constructor(
    private readonly stores: StoreSet,
    private readonly partitions: number,
    private readonly limits: ProducerLimits,
    private readonly log: Logger,
  ) {}

  /** Loads the producers' marks that the partitions committed. */
  static load(stores: StoreSet, limits: ProducerLimits, log: Logger): ProducerRegistry {
    const partitions = stores.layout.partitions;
    const registry = new ProducerRegistry(stores, partitions, limits, log);
    for (const store of stores.open) {
      for (const { key, value } of store.producers.getRange()) {
        const [partition, name] = key;
        if (partition >= partitions) continue;
        const state = decodeProducerState(value);
        const producer = registry.producers.get(name) ?? registry.create(name, state.seenMs);
        producer.seqs[partition] = Math.max(producer.seqs[partition]!, state.seq);
        producer.lastSeenMs = Math.max(producer.lastSeenMs, state.seenMs);
      }
    }
    registry.expire(Date.now());
    return registry;
  }

  get size(): number {
    return this.producers.size;
  }

  /**
   * Makes `conn` the producer `name`; returns null when the registry is full of live producers.
   * A connection that was this producer before is closed: two writers with one seq space would
   * make each other's pubs look like re-sends.
   */
  attach(name: string, conn: Connection, nowMs: number): Producer | null {
    let producer = this.producers.get(name);
    if (producer === undefined) {
      if (this.producers.size >= this.limits.maxProducers) this.expire(nowMs);
      if (this.producers.size >= this.limits.maxProducers) return null;
      producer = this.create(name, nowMs);
    }
    const previous = producer.conn;
    if (previous !== null && previous !== conn) {
      this.log.warn({ producer: name, conn: previous.id, by: conn.id }, 'producer fenced: the same name said hello on another connection');
      previous.producer = null;
      previous.close(FENCED_CLOSE_CODE, 'producer fenced: the same producer name connected again');
    }
    producer.conn = conn;
    producer.lastSeenMs = nowMs;
    return producer;
  }

  detach(conn: Connection): void {
    const producer = conn.producer;
    if (producer !== null && producer.conn === conn) producer.conn = null;
  }

  /** Forgets producers idle for longer than the TTL and not connected; returns how many. */
  expire(nowMs: number): number {
    const expired: Producer[] = [];
    for (const producer of this.producers.values()) {
      if (producer.conn === null && nowMs - producer.lastSeenMs > this.limits.ttlMs) expired.push(producer);
    }
    if (expired.length === 0) return 0;
    for (const producer of expired) this.producers.delete(producer.name);
    // Written from the front end: workers only write entries of producers with events in flight,
    // and an expired producer has none (it is not connected and its last pub is acked). This takes
    // each store's write lock for a moment, once an hour at most.
    for (const store of this.stores.open) {
      store.root.transactionSync(() => {
        for (const producer of expired) {
          for (let p = 0; p < this.partitions; p++) {
            if (producer.seqs[p]! > 0 && this.stores.ofPartition(p) === store) store.producers.removeSync([p, producer.name] as ProducerKey);
          }
        }
      });
    }
    this.log.info({ expired: expired.length, ttlMs: this.limits.ttlMs }, 'forgot idle producers');
    return expired.length;
  }

  private create(name: string, nowMs: number): Producer {
    const producer: Producer = {
      name,
      nameBytes: Buffer.byteLength(name, 'utf8'),
      seqs: new Float64Array(this.partitions),
      lastSeenMs: nowMs,
      conn: null,
    };
    this.producers.set(name, producer);
    return producer;
  }
}
