// The pub path: validate every event, then route each to the worker owning its key's partition
// and write it into that worker's ring, then register the pub for its ack. Validation completes
// before the first record is written, so an invalid pub leaves no trace.
import { msgpack } from '../shared/msgpack.js';
import { lastHashedByteLength, ownerOf } from '../shared/partition.js';
import type { AckTracker, PendingPub } from './ack-tracker.js';
import type { Connection } from './connection.js';
import type { PartitionChannel } from './partition-channel.js';
import { ErrorCode, ProtocolError, type Encoding, type Limits, type WireEvent } from './protocol.js';
import { checkEvent, requireId } from './validate.js';

export interface IngestOptions extends Limits {
  partitions: number;
  maxBacklogBytes: number;
}

export class Ingest {
  private readonly owners: Uint16Array;
  private readonly hashes: Uint32Array;
  private readonly keyBytes: Uint16Array;
  private readonly touchedStamp: Uint32Array;
  private readonly touched: number[] = [];
  private stamp = 0;
  /** Set when the engine stops: new pubs are refused. */
  draining = false;

  constructor(
    private readonly channels: PartitionChannel[],
    /** Last offset assigned, per partition (starts at the offset LMDB has applied). */
    private readonly nextOffsets: Float64Array,
    private readonly tracker: AckTracker,
    private readonly options: IngestOptions,
  ) {
    this.owners = new Uint16Array(options.partitions);
    for (let p = 0; p < options.partitions; p++) this.owners[p] = ownerOf(p, channels.length);
    this.hashes = new Uint32Array(options.maxEventsPerPub);
    this.keyBytes = new Uint16Array(options.maxEventsPerPub);
    this.touchedStamp = new Uint32Array(channels.length);
  }

  pub(conn: Connection, message: Record<string, unknown>, encoding: Encoding): void {
    const { options, hashes, keyBytes } = this;
    const id = requireId(message, 'pub');
    for (const name in message) {
      if (name === 'seq') {
        throw new ProtocolError(ErrorCode.UNSUPPORTED, 'idempotent producers (hello/seq) are not available in this version', id);
      }
      if (name !== 'op' && name !== 'id' && name !== 'events') {
        throw new ProtocolError(ErrorCode.BAD_FRAME, `pub has unknown field ${JSON.stringify(name)}`, id);
      }
    }
    const events = message.events;
    if (!Array.isArray(events) || events.length === 0) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, 'pub: "events" must be a non-empty array', id);
    }
    if (events.length > options.maxEventsPerPub) {
      throw new ProtocolError(ErrorCode.TOO_LARGE, `pub has ${events.length} events, more than maxEventsPerPub ${options.maxEventsPerPub}`, id);
    }
    const count = events.length;
    for (let i = 0; i < count; i++) {
      hashes[i] = checkEvent(events[i], i, options, id);
      keyBytes[i] = lastHashedByteLength();
    }
    if (this.draining) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the engine is shutting down', id);
    if (conn.inFlight >= options.maxInFlight) {
      throw new ProtocolError(ErrorCode.OVERLOADED, `more than maxInFlight ${options.maxInFlight} pubs unacknowledged on this connection`, id);
    }
    if (this.backlogBytes() > options.maxBacklogBytes) {
      throw new ProtocolError(ErrorCode.OVERLOADED, 'the engine is at its backlog limit; retry after acks arrive', id);
    }

    const { channels, owners, nextOffsets, touched, touchedStamp } = this;
    const stamp = (this.stamp = (this.stamp + 1) >>> 0 || 1);
    const now = Date.now();
    const partitions = options.partitions;
    for (let i = 0; i < count; i++) {
      const event = events[i] as WireEvent;
      const partition = hashes[i]! % partitions;
      const worker = owners[partition]!;
      const data = event.data === undefined ? null : msgpack.pack(event.data);
      const offset = nextOffsets[partition]! + 1;
      nextOffsets[partition] = offset;
      channels[worker]!.writeEvent(partition, offset, event.key, keyBytes[i]!, hashes[i]!, event.type, event.ts ?? now, data);
      if (touchedStamp[worker] !== stamp) {
        touchedStamp[worker] = stamp;
        touched.push(worker);
      }
    }
    const pub: PendingPub = { conn, id, encoding, waiting: 0, failure: null };
    for (let i = 0; i < touched.length; i++) {
      const channel = channels[touched[i]!]!;
      this.tracker.track(pub, channel.worker, channel.enqueued);
      channel.publish();
    }
    touched.length = 0;
    conn.inFlight++;
  }

  private backlogBytes(): number {
    let bytes = 0;
    for (let w = 0; w < this.channels.length; w++) bytes += this.channels[w]!.backlogBytes;
    return bytes;
  }
}
