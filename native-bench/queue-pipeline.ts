// What the broker pipelines of the bench (RabbitMQ, NATS JetStream) share: the `ws` front half
// that hands each pub to the broker and acks it once the consumer reports it committed, and the
// consumer half that applies batches of pubs to LMDB (the same default merge as the engine and the
// naive server) before reporting them.
import { open, type RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import { WebSocketServer, type WebSocket } from 'ws';
import type { MetaRecord } from '../src/shared/metadata.js';
import { applyDefaultMerge, newMetaRecord } from '../src/workers/default-merge.js';
import { announceAndServe } from './ws-peer.js';

export const wire = new Packr({ useRecords: false });

export interface BenchEvent {
  key: string;
  type: string;
  ts?: number;
  data?: Record<string, unknown>;
}

/** Applies events with the default merge, a read-modify-write per event; call inside a transaction. */
export function mergeEvents(db: RootDatabase<MetaRecord, string>, events: BenchEvent[], now: number): void {
  for (const event of events) {
    const ts = event.ts ?? now;
    const meta = db.get(event.key) ?? newMetaRecord(ts);
    applyDefaultMerge(meta, event.type, ts, event.data ?? null);
    db.put(event.key, meta);
  }
}

/**
 * The front half: each pub goes to `enqueue` as {ref, events}; `committed` (the consumer's report,
 * a list of refs) sends the acks. A failed enqueue answers the pub with STORAGE.
 */
export function serveQueueFront(enqueue: (payload: Buffer) => Promise<unknown>, cleanup: () => Promise<unknown>): { committed(report: Uint8Array): void } {
  const waiting = new Map<number, { socket: WebSocket; id: number }>();
  let nextRef = 1;
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
  server.on('connection', (socket) => {
    socket.send(wire.pack({ op: 'welcome', v: 1 }));
    socket.on('message', (frame: Buffer) => {
      const message = wire.unpack(frame) as { id: number; events: unknown[] };
      const ref = nextRef++;
      waiting.set(ref, { socket, id: message.id });
      enqueue(wire.pack({ ref, events: message.events })).catch((error: Error) => {
        waiting.delete(ref);
        socket.send(wire.pack({ op: 'error', id: message.id, code: 'STORAGE', message: String(error) }));
      });
    });
  });
  announceAndServe(server, cleanup);
  return {
    committed(report) {
      for (const ref of wire.unpack(report) as number[]) {
        const pub = waiting.get(ref);
        waiting.delete(ref);
        pub?.socket.send(wire.pack({ op: 'ack', id: pub.id }));
      }
    },
  };
}

/**
 * The consumer half: messages pushed while a batch commits form the next batch; each batch is one
 * LMDB transaction (then an fsync with `sync`), after which `done` gets the batch's last message
 * (to ack up to it) and the report of its refs for the front half.
 */
export class BatchApplier<M> {
  private batch: M[] = [];
  private flushing = false;
  readonly db: RootDatabase<MetaRecord, string>;

  constructor(
    dataDir: string,
    private readonly durability: string,
    private readonly contentOf: (message: M) => Uint8Array,
    private readonly done: (last: M, report: Buffer) => void,
  ) {
    this.db = open<MetaRecord, string>({ path: dataDir, noSync: durability === 'async' });
  }

  push(message: M): void {
    this.batch.push(message);
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.batch.length === 0) return;
    this.flushing = true;
    const messages = this.batch;
    this.batch = [];
    const refs: number[] = [];
    const now = Date.now();
    await this.db.transaction(() => {
      for (const message of messages) {
        const pub = wire.unpack(this.contentOf(message)) as { ref: number; events: BenchEvent[] };
        refs.push(pub.ref);
        mergeEvents(this.db, pub.events, now);
      }
    });
    if (this.durability === 'sync') await this.db.flushed;
    this.done(messages[messages.length - 1]!, wire.pack(refs));
    this.flushing = false;
    if (this.batch.length > 0) void this.flush();
  }
}
