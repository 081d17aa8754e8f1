// What the bench's peers built on a broker (RabbitMQ, NATS JetStream, Kafka) and the naive server
// share, set up as an expert would for this workload and with the engine's own storage choices, so
// that a ratio measures the architecture rather than our peer code:
// - the `ws` front half forwards each pub's frame bytes to the broker (it reads only the id, to ack,
//   and with several consumers the events' keys, to split it), behind a 4-byte ref the consumer
//   reports back;
// - the consumer half applies the pubs of a batch to cached records (the same default merge as the
//   engine), then writes each key it touched once, in one LMDB transaction, with the engine's
//   LMDB settings and record encoding (PeerRecords).
import { Packr } from 'msgpackr';
import { WebSocketServer, type WebSocket } from 'ws';
import type { MetaRecord } from '../src/shared/metadata.js';
import { decodeMeta, encodeMeta } from '../src/shared/meta-codec.js';
import { flushToDisk, openStore, type Store } from '../src/shared/store.js';
import { applyDefaultMerge, newMetaRecord } from '../src/workers/default-merge.js';
import { pubId } from './pub-id.js';
import { PubSplitter } from './pub-split.js';
import { announceAndServe } from './ws-peer.js';

export const wire = new Packr({ useRecords: false });

export interface BenchEvent {
  key: string;
  type: string;
  ts?: number;
  data?: Record<string, unknown>;
}

/** Records kept decoded in memory, as the engine's default HUNT_CACHE_KEYS. */
const MAX_CACHED_RECORDS = 500_000;
const REF_BYTES = 4;

/**
 * A peer's metadata records: decoded records cached in memory (oldest out first past
 * MAX_CACHED_RECORDS), events applied to them, and each changed key written once per commit.
 */
export class PeerRecords {
  private readonly store: Store;
  private readonly cache = new Map<string, MetaRecord>();
  private readonly dirty = new Set<string>();

  constructor(dataDir: string) {
    this.store = openStore(dataDir);
  }

  apply(events: BenchEvent[], now: number): void {
    for (const event of events) {
      const ts = event.ts ?? now;
      let meta = this.cache.get(event.key);
      if (meta === undefined) {
        const stored = this.store.meta.getBinary(event.key);
        meta = stored === undefined ? newMetaRecord(ts) : decodeMeta(stored);
        this.cache.set(event.key, meta);
      }
      applyDefaultMerge(meta, event.type, ts, event.data ?? null);
      this.dirty.add(event.key);
    }
  }

  /** Writes the changed records in one transaction; with `sync`, resolves once they are on disk. */
  async commit(durability: string): Promise<void> {
    const { store, cache, dirty } = this;
    store.root.transactionSync(() => {
      for (const key of dirty) store.meta.putSync(key, encodeMeta(cache.get(key)!));
    });
    dirty.clear();
    if (durability === 'sync') await flushToDisk(store);
    for (const key of cache.keys()) {
      if (cache.size <= MAX_CACHED_RECORDS) break;
      cache.delete(key);
    }
  }

  close(): Promise<void> {
    return this.store.root.close();
  }
}

/** The frame behind room for its ref. */
function whole(frame: Buffer): Buffer {
  const payload = Buffer.allocUnsafe(REF_BYTES + frame.length);
  frame.copy(payload, REF_BYTES);
  return payload;
}

/**
 * The front half: each pub goes to `enqueue` behind its ref, whole with one consumer, else split by
 * key (pub-split.ts) into a part per consumer that has events of it; `committed` (a consumer's
 * report, a list of refs) acks a pub once every part of it is reported. A failed enqueue answers
 * the pub with STORAGE.
 */
export function serveQueueFront(consumers: number, enqueue: (payload: Buffer, consumer: number) => Promise<unknown>, cleanup: () => Promise<unknown>): { committed(report: Uint8Array): void } {
  const waiting = new Map<number, { socket: WebSocket; id: number; parts: number }>();
  const splitter = consumers > 1 ? new PubSplitter(consumers, REF_BYTES) : null;
  let nextRef = 1;
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
  server.on('connection', (socket) => {
    socket.send(wire.pack({ op: 'welcome', v: 1 }));
    socket.on('message', (frame: Buffer) => {
      const id = pubId(frame);
      const ref = nextRef++;
      const parts = splitter === null ? [whole(frame)] : splitter.split(frame);
      const pub = { socket, id, parts: 0 };
      waiting.set(ref, pub);
      parts.forEach((payload, consumer) => {
        if (payload === null) return;
        pub.parts++;
        payload.writeUInt32BE(ref, 0);
        enqueue(payload, consumer).catch((error: Error) => {
          if (!waiting.delete(ref)) return;
          socket.send(wire.pack({ op: 'error', id, code: 'STORAGE', message: String(error) }));
        });
      });
    });
  });
  announceAndServe(server, cleanup);
  return {
    committed(report) {
      for (const ref of wire.unpack(report) as number[]) {
        const pub = waiting.get(ref);
        if (pub === undefined || --pub.parts > 0) continue;
        waiting.delete(ref);
        pub.socket.send(wire.pack({ op: 'ack', id: pub.id }));
      }
    },
  };
}

/**
 * Batches of work: items pushed while a batch commits form the next batch; `apply` takes each item
 * into the records, then one commit (and, with `sync`, an fsync) covers the batch, after which
 * `done` gets it.
 */
export class Batcher<M> {
  private batch: M[] = [];
  private flushing = false;
  readonly records: PeerRecords;

  constructor(
    dataDir: string,
    private readonly durability: string,
    private readonly apply: (item: M, records: PeerRecords, now: number) => void,
    private readonly done: (batch: M[]) => void,
  ) {
    this.records = new PeerRecords(dataDir);
  }

  push(item: M): void {
    this.batch.push(item);
    if (this.batch.length === 1) setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.batch.length === 0) return;
    this.flushing = true;
    const items = this.batch;
    this.batch = [];
    const now = Date.now();
    for (const item of items) this.apply(item, this.records, now);
    await this.records.commit(this.durability);
    this.done(items);
    this.flushing = false;
    if (this.batch.length > 0) void this.flush();
  }
}

/**
 * The consumer half: a Batcher of broker messages whose content is a ref and a pub frame; `done`
 * gets the batch's last message (to ack up to it) and the report of its refs for the front half.
 */
export function batchApplier<M>(dataDir: string, durability: string, contentOf: (message: M) => Uint8Array, done: (last: M, report: Buffer) => void): Batcher<M> {
  let refs: number[] = [];
  return new Batcher<M>(
    dataDir,
    durability,
    (message, records, now) => {
      const content = contentOf(message);
      refs.push(new DataView(content.buffer, content.byteOffset, REF_BYTES).getUint32(0));
      records.apply((wire.unpack(content.subarray(REF_BYTES)) as { events: BenchEvent[] }).events, now);
    },
    (batch) => {
      done(batch[batch.length - 1]!, wire.pack(refs));
      refs = [];
    },
  );
}
