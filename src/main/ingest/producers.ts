// Idempotent producers, as an acceptor sees them: for each producer name it holds, the highest
// `seq` taken into each partition's ring. An event of a pub whose seq is not above that partition's
// mark was taken before (or applied before a crash) and is not enqueued again.
//
// One acceptor at a time holds a producer (control/producer-directory.ts): the first hello of a
// name on an acceptor claims it from control, which has the last holder fence its connection and
// hand over its marks once everything that producer sent there is settled, or has the claimer load
// the marks the partitions committed (the `producers` database is written in the same transaction
// as the events, so they survive restarts and crashes). While held, the marks move when events
// enter a ring, the point from which an event will be applied even if its worker thread dies (the
// ring keeps it for the replacement loop).
//
// A producer that has not written for the TTL and is not connected is forgotten (here and in LMDB),
// after which a re-send of its old pubs would be applied again. The same name connecting again
// fences the older connection off.
import type { Logger } from '../../shared/logger.js';
import { decodeProducerState, type ProducerKey, type StoreSet } from '../../shared/store.js';
import type { Connection } from '../connections/connection.js';
import type { ProducerMarks } from '../acceptor/acceptor-messages.js';
import { CloseCode } from '../../shared/wire.js';

export interface Producer {
  readonly name: string;
  /** UTF-8 bytes of the name. */
  readonly nameBytes: number;
  /** Highest seq taken into each partition's ring (0: none). */
  readonly seqs: Float64Array;
  lastSeenMs: number;
  conn: Connection | null;
}

const FENCED_REASON = 'producer fenced: the same producer name connected again';

export class ProducerRegistry {
  private readonly producers = new Map<string, Producer>();

  constructor(
    private readonly stores: StoreSet,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {}

  /** Producers held here. */
  get size(): number {
    return this.producers.size;
  }

  /**
   * Makes `conn` the producer `name` if this acceptor holds it; null if it must be claimed first.
   * A connection that was this producer before is closed: two writers with one seq space would
   * make each other's pubs look like re-sends.
   */
  attach(name: string, conn: Connection, nowMs: number): Producer | null {
    const producer = this.producers.get(name);
    if (producer === undefined) return null;
    const previous = producer.conn;
    if (previous !== null && previous !== conn) {
      this.log.warn({ producer: name, conn: previous.id, by: conn.id }, 'producer fenced: the same name said hello on another connection');
      this.fence(previous);
    }
    producer.conn = conn;
    producer.lastSeenMs = nowMs;
    return producer;
  }

  /** Holds `name` from now on, with the marks its last holder handed over or, if none, the committed ones. */
  adopt(name: string, marks: ProducerMarks | null, nowMs: number): Producer {
    const producer: Producer = {
      name,
      nameBytes: Buffer.byteLength(name, 'utf8'),
      seqs: marks?.seqs ?? committedMarks(this.stores, name),
      lastSeenMs: Math.max(nowMs, marks?.lastSeenMs ?? 0),
      conn: null,
    };
    this.producers.set(name, producer);
    return producer;
  }

  /** Stops holding `name` (another acceptor claimed it), fencing its connection off; null if not held. */
  release(name: string): Producer | null {
    const producer = this.producers.get(name);
    if (producer === undefined) return null;
    this.producers.delete(name);
    if (producer.conn !== null) {
      this.log.info({ producer: name, conn: producer.conn.id }, 'producer fenced: the same name said hello on another acceptor');
      this.fence(producer.conn);
      producer.conn = null;
    }
    return producer;
  }

  detach(conn: Connection): void {
    const producer = conn.producer;
    if (producer !== null && producer.conn === conn) producer.conn = null;
  }

  /** Forgets producers idle for longer than the TTL and not connected; returns their names. */
  expire(nowMs: number): string[] {
    const expired: Producer[] = [];
    for (const producer of this.producers.values()) {
      if (producer.conn === null && nowMs - producer.lastSeenMs > this.ttlMs) expired.push(producer);
    }
    if (expired.length === 0) return [];
    for (const producer of expired) this.producers.delete(producer.name);
    forgetStored(this.stores, expired.map((producer) => producer.name));
    this.log.info({ expired: expired.length, ttlMs: this.ttlMs }, 'forgot idle producers');
    return expired.map((producer) => producer.name);
  }

  private fence(conn: Connection): void {
    conn.producer = null;
    conn.close(CloseCode.FENCED, FENCED_REASON);
  }
}

/** The marks the partitions committed for producer `name` (0 where none). */
function committedMarks(stores: StoreSet, name: string): Float64Array {
  const seqs = new Float64Array(stores.layout.partitions);
  for (let p = 0; p < seqs.length; p++) {
    const stored = stores.ofPartition(p).producers.get([p, name] as ProducerKey);
    if (stored !== undefined) seqs[p] = decodeProducerState(stored).seq;
  }
  return seqs;
}

/**
 * Forgets, in LMDB, the producers that no acceptor holds (`held`) and whose last write is older
 * than the TTL at `nowMs` (at start-up, and periodically by the control thread); returns how many.
 */
export function forgetIdleStored(stores: StoreSet, nowMs: number, ttlMs: number, held: (name: string) => boolean): number {
  // An acceptor may just have forgotten some itself: read past this thread's cached snapshot, or
  // they would be found (and counted) again.
  stores.resetReadTxns();
  const lastSeen = new Map<string, number>();
  for (const store of stores.open) {
    for (const { key, value } of store.producers.getRange()) {
      const name = key[1];
      lastSeen.set(name, Math.max(lastSeen.get(name) ?? 0, decodeProducerState(value).seenMs));
    }
  }
  const idle = [...lastSeen].filter(([name, seenMs]) => nowMs - seenMs > ttlMs && !held(name)).map(([name]) => name);
  forgetStored(stores, idle);
  return idle.length;
}

/**
 * Removes the producers' entries from every store. Written from outside the workers: they only
 * write entries of producers with events in flight, and a forgotten producer has none (it is not
 * connected and its last pub is settled). This takes each store's write lock for a moment, rarely.
 */
function forgetStored(stores: StoreSet, names: string[]): void {
  if (names.length === 0) return;
  const partitions = stores.layout.partitions;
  for (const store of stores.open) {
    store.root.transactionSync(() => {
      for (let p = 0; p < partitions; p++) {
        if (stores.ofPartition(p) !== store) continue;
        for (const name of names) store.producers.removeSync([p, name] as ProducerKey);
      }
    });
  }
}
