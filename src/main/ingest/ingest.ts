// The pub path: validate every event, then route each to the worker owning its key's partition
// and write it into that worker's ring, then register the pub for its ack. Validation completes
// before the first record is written, so an invalid pub leaves no trace.
//
// From an idempotent producer, an event is enqueued only if its partition has not taken this
// producer's seq yet (producers.ts); a pub with nothing left to enqueue is a re-send, acked with
// `dup` once whatever its partitions took before is done.
import { NO_PRODUCER, RecordKind, type RecordProducer } from '../../shared/event-record.js';
import { RoutedScan } from '../routes/routed-scan.js';
import { BinaryWriter } from '../../shared/binary-writer.js';
import { lastHashedByteLength, ownerOf, type Layout } from '../../shared/partition.js';
import type { AckTracker, PendingPub } from './ack-tracker.js';
import type { Connection } from '../connections/connection.js';
import type { PartitionChannel } from './partition-channel.js';
import { ErrorCode, ProtocolError, type Encoding, type Limits, type WireEvent } from '../../shared/wire.js';
import { PubScanner } from './pub-scanner.js';
import { PubTargets } from './pub-targets.js';
import type { Router } from '../routes/router.js';
import { resolveValues, writeUpdateDocument, type CompiledRoute, type EventContext } from '../routes/routes.js';
import { FoldedUpdate, MAX_FOLDED_UPDATES } from '../routes/update-fold.js';
import { checkEvent, checkKey, isPlainObject } from '../../shared/event-checks.js';
import { checkSeq, requireId } from './validate.js';
import { forbidden } from '../auth/scope-checks.js';
import type { KeyScope } from '../auth/permissions.js';

/** Writes staged record `i` of the pub being taken into `channel`. */
type RecordWriter = (channel: PartitionChannel, i: number, partition: number, producer: RecordProducer) => void;

/** WebSocket close code for a connection that floods past OVERLOADED (1008: policy violation). */
export const FLOODING_CLOSE_CODE = 1008;
/**
 * Refusals for a full window (or the window size, if larger) before that close. Each pub taken
 * pays back a window's worth: a client that waits for its acks clears its count at once, while one
 * that keeps sending gains thousands of refusals for each pub an ack lets in.
 */
const FLOOD_REFUSALS = 1024;
const OPEN_HASH_MASK = 4095;

export interface IngestOptions extends Limits {
  layout: Layout;
  maxBacklogBytes: number;
}

export class Ingest {
  private readonly owners: Uint16Array;
  private readonly targets: PubTargets;
  private readonly scanner: PubScanner;
  private readonly routedScan: RoutedScan;
  /** The pub being taken: its decoded events (general path) or frame (fast paths), and arrival time. */
  private events: unknown[] = [];
  private frame: Buffer = Buffer.alloc(0);
  private now = 0;
  private readonly touchedStamp: Uint32Array;
  /** Per target of the pub being taken: 1 when its partition took this seq before (a re-send). */
  private taken: Uint8Array;
  /** The routes in force (null: the default merge); replaced whole on reload, between frames. */
  router: Router | null = null;
  private readonly recordProducer: RecordProducer = { name: '', nameBytes: 0, seq: 0 };
  private readonly payloadWriter = new BinaryWriter();
  private readonly touched: number[] = [];
  /** Fan-out records of the pub being staged that later updates of their key may fold into: key → target. */
  private readonly openFanOuts = new Map<string, number>();
  /** Per hash bucket: the stagedPubs count of the last pub that opened a fan-out there. */
  private readonly openHashes = new Uint32Array(OPEN_HASH_MASK + 1);
  private stagedPubs = 0;
  /** Resolved operation values of the update being written (reused). */
  private readonly resolved: unknown[] = [];
  private stamp = 0;
  /** Set when the engine stops: new pubs are refused. */
  draining = false;
  /** Told the number of events of every pub taken (for metrics). */
  onTaken: (events: number) => void = () => {};

  constructor(
    private readonly channels: PartitionChannel[],
    /** Records written for each partition since start (its lag is these less what its worker settled). */
    private readonly recordsTaken: Float64Array,
    private readonly tracker: AckTracker,
    private readonly options: IngestOptions,
  ) {
    this.owners = new Uint16Array(options.layout.partitions);
    for (let p = 0; p < options.layout.partitions; p++) this.owners[p] = ownerOf(p, options.layout, channels.length);
    this.targets = new PubTargets(options.maxEventsPerPub);
    this.scanner = new PubScanner(options);
    this.routedScan = new RoutedScan(options);
    this.touchedStamp = new Uint32Array(channels.length);
    this.taken = new Uint8Array(options.maxEventsPerPub);
  }

  pub(conn: Connection, message: Record<string, unknown>, encoding: Encoding): void {
    const { options } = this;
    const id = requireId(message, 'pub');
    for (const name in message) {
      if (name !== 'op' && name !== 'id' && name !== 'events' && name !== 'seq') {
        throw new ProtocolError(ErrorCode.BAD_FRAME, `pub has unknown field ${JSON.stringify(name)}`, id);
      }
    }
    const seq = this.checkSeq(conn, message.seq, id);
    const events = message.events;
    if (!Array.isArray(events) || events.length === 0) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, 'pub: "events" must be a non-empty array', id);
    }
    if (events.length > options.maxEventsPerPub) {
      throw new ProtocolError(ErrorCode.TOO_LARGE, `pub has ${events.length} events, more than maxEventsPerPub ${options.maxEventsPerPub}`, id);
    }
    if (!conn.permissions.pub.all) this.checkDecodedKeys(conn.permissions.pub, events, id);
    this.admit(conn, id);
    const now = (this.now = Date.now());
    this.stage(events, id, now);
    this.events = events;
    this.take(conn, id, seq, encoding, events.length, now, this.targets, this.writeDecoded);
    this.events = [];
  }

  /**
   * The fast path of a MessagePack pub (pub-scanner.ts): taken straight from the frame's bytes if
   * the scanner accepts it and, with routes in force, routed-scan.ts stages it; false, with
   * nothing done, otherwise (the caller then decodes the frame and calls pub()).
   */
  pubFromFrame(conn: Connection, frame: Buffer, encoding: Encoding): boolean {
    const { scanner, targets, router, routedScan } = this;
    if (!scanner.scan(frame)) return false;
    const id = scanner.id;
    if (!conn.permissions.pub.all) this.checkScannedKeys(conn.permissions.pub, frame, id);
    const seq = this.checkSeq(conn, scanner.seq, id);
    this.admit(conn, id);
    const now = (this.now = Date.now());
    this.frame = frame;
    if (router !== null) {
      if (!routedScan.stage(frame, scanner, router, now)) return false;
      this.take(conn, id, seq, encoding, scanner.count, now, routedScan.targets, this.writeRouted);
      return true;
    }
    targets.reset();
    for (let i = 0; i < scanner.count; i++) targets.add(scanner.keyHash[i]!, scanner.keyEnd[i]! - scanner.keyStart[i]!, i, RecordKind.Merge, -1, '', null, null);
    this.take(conn, id, seq, encoding, scanner.count, now, targets, this.writeScanned);
    return true;
  }

  /**
   * A pub scope limited to prefixes, checked before anything else of the pub: only the events' own
   * keys, since a route's fan-out keys are the operator's, not the client's. Kept out of the pub
   * paths, which an unrestricted token (one flag test) must not slow down.
   */
  private checkScannedKeys(scope: KeyScope, frame: Buffer, id: number): void {
    const { scanner } = this;
    for (let i = 0; i < scanner.count; i++) {
      if (!scope.allowsBytes(frame, scanner.keyStart[i]!, scanner.keyEnd[i]!)) throw forbidden('pub', frame.toString('utf8', scanner.keyStart[i], scanner.keyEnd[i]), 'pub', id, i);
    }
  }

  /** checkScannedKeys for decoded events (a key that is no string is left to stage() to refuse). */
  private checkDecodedKeys(scope: KeyScope, events: unknown[], id: number): void {
    for (let i = 0; i < events.length; i++) {
      const key = isPlainObject(events[i]) ? (events[i] as Record<string, unknown>).key : undefined;
      if (typeof key === 'string' && !scope.allows(key)) throw forbidden('pub', key, 'pub', id, i);
    }
  }

  /** The pub's seq (0 without a producer), checked against the connection's last. */
  private checkSeq(conn: Connection, value: unknown, id: number): number {
    const seq = checkSeq(value, conn.producer !== null, id);
    if (conn.producer !== null && seq <= conn.lastSeq) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, `pub: seq ${seq} is not above ${conn.lastSeq}, the last seq taken on this connection`, id);
    }
    return seq;
  }

  /** Refusals that cost nothing, before the events are looked at: draining, a full window, the backlog limit. */
  private admit(conn: Connection, id: number): void {
    const { options } = this;
    if (this.draining) throw new ProtocolError(ErrorCode.SHUTTING_DOWN, 'the engine is shutting down', id);
    if (conn.inFlight >= options.maxInFlight) {
      // A client that keeps sending into a full window is flooding: answering each pub would let
      // it take the front end's time from everyone else, so past FLOOD_REFUSALS it is closed.
      if (++conn.floodRefusals > Math.max(options.maxInFlight, FLOOD_REFUSALS)) {
        conn.close(FLOODING_CLOSE_CODE, 'flooding: kept sending past OVERLOADED');
      }
      throw new ProtocolError(ErrorCode.OVERLOADED, `more than maxInFlight ${options.maxInFlight} pubs unacknowledged on this connection`, id);
    }
    if (this.backlogBytes() > options.maxBacklogBytes) {
      throw new ProtocolError(ErrorCode.OVERLOADED, 'the engine is at its backlog limit; retry after acks arrive', id);
    }
  }

  /**
   * Writes the staged records of a validated pub (`targets`) into the rings with `writeRecord`, and
   * registers the pub for its ack.
   */
  private take(conn: Connection, id: number, seq: number, encoding: Encoding, eventCount: number, now: number, targets: PubTargets, writeRecord: RecordWriter): void {
    const { channels, owners, recordsTaken, touched, touchedStamp, options } = this;
    if (conn.floodRefusals > 0) conn.floodRefusals = Math.max(0, conn.floodRefusals - options.maxInFlight);
    const producer = conn.producer;
    const stamp = (this.stamp = (this.stamp + 1) >>> 0 || 1);
    const partitions = options.layout.partitions;
    const count = targets.count;
    if (this.taken.length < count) this.taken = new Uint8Array(targets.hash.length);
    const taken = this.taken;
    let record = NO_PRODUCER;
    let fresh = count;
    if (producer !== null) {
      // Decided for all records before any mark moves: records of one pub share a partition's mark.
      fresh = 0;
      for (let i = 0; i < count; i++) {
        const isTaken = producer.seqs[targets.hash[i]! % partitions]! >= seq;
        taken[i] = isTaken ? 1 : 0;
        if (!isTaken) fresh++;
      }
      record = this.recordProducer;
      record.name = producer.name;
      record.nameBytes = producer.nameBytes;
      record.seq = seq;
      conn.lastSeq = seq;
      producer.lastSeenMs = now;
    }
    for (let i = 0; i < count; i++) {
      const partition = targets.hash[i]! % partitions;
      const worker = owners[partition]!;
      if (touchedStamp[worker] !== stamp) {
        touchedStamp[worker] = stamp;
        touched.push(worker);
      }
      if (record !== NO_PRODUCER && taken[i] === 1) continue;
      recordsTaken[partition]++;
      writeRecord(channels[worker]!, i, partition, record);
    }
    if (producer !== null) {
      for (let i = 0; i < count; i++) if (taken[i] === 0) producer.seqs[targets.hash[i]! % partitions] = seq;
    }
    const pub: PendingPub = { conn, id, encoding, waiting: 0, failure: null, dup: producer !== null && fresh === 0 && count > 0, takenAt: performance.now(), events: eventCount };
    for (let i = 0; i < touched.length; i++) {
      const channel = channels[touched[i]!]!;
      // A re-send waits for what its partitions took before; nothing, if they are done already.
      if (!channel.isSettled()) this.tracker.track(pub, channel.worker, channel.enqueued);
      channel.publish();
    }
    touched.length = 0;
    conn.inFlight++;
    this.onTaken(eventCount);
    if (pub.waiting === 0) this.tracker.settleNow(pub);
  }

  /** Record `i` of a scanned pub without routes: the event as it lies in the frame. */
  private readonly writeScanned: RecordWriter = (channel, i, partition, producer) => {
    const ts = this.scanner.ts[i]!;
    channel.writeScannedEvent(partition, this.frame, this.scanner, i, Number.isNaN(ts) ? this.now : ts, producer);
  };

  private readonly writeRouted: RecordWriter = (channel, i, partition, producer) => this.routedScan.write(channel, i, partition, producer);

  /** Record `i` of a decoded pub (stage()): the event's data, or its route's update document. */
  private readonly writeDecoded: RecordWriter = (channel, i, partition, producer) => {
    const { targets } = this;
    const event = this.events[targets.event[i]!] as WireEvent;
    const kind = targets.kind[i] as RecordKind;
    const fold = targets.folds[i]!;
    // Encoded into a reused buffer; writeEvent copies it into the ring.
    let payload: Uint8Array | null = null;
    const writer = this.payloadWriter;
    writer.reset();
    if (kind === RecordKind.Merge) {
      if (event.data !== undefined) {
        writer.msgpackMap(event.data);
        payload = writer.bytes();
      }
    } else {
      const route = targets.routes[i]!;
      if (fold !== null) writeUpdateDocument(fold.update, fold.finished(), true, writer);
      else {
        const update = kind === RecordKind.Routed ? route.own : route.also[targets.also[i]!]!.update;
        if (update === null) writer.msgpackMapHeader(0);
        else writeUpdateDocument(update, resolveValues(update, targets.contexts[i]!, this.resolved), false, writer);
      }
      payload = writer.bytes();
    }
    channel.writeEvent(partition, targets.keys[i]!, targets.keyBytes[i]!, targets.hash[i]!, event.type, event.ts ?? this.now, producer, kind, fold === null ? 1 : fold.updates, payload);
  };

  /**
   * Validates every event (and its route's fan-out keys) and stages the records of the pub. A
   * fan-out update of a key that already has a record of the same shape in this pub is folded into
   * it, unless another record of that key came in between (per-key order is kept).
   */
  private stage(events: unknown[], id: number, now: number): void {
    const { options, targets, router, openFanOuts } = this;
    targets.reset();
    openFanOuts.clear();
    const pubStamp = (this.stagedPubs = (this.stagedPubs + 1) >>> 0 || 1);
    for (let i = 0; i < events.length; i++) {
      const hash = checkEvent(events[i], i, options, id);
      const keyBytes = lastHashedByteLength();
      const event = events[i] as WireEvent;
      const route = router === null ? null : router.route(event.key, event.type, event.data, i, id);
      // Another record of a key closes its open fan-out; most keys never had one (checked by hash first).
      if (openFanOuts.size > 0 && this.openHashes[hash & OPEN_HASH_MASK] === pubStamp) openFanOuts.delete(event.key);
      if (route === null) {
        targets.add(hash, keyBytes, i, RecordKind.Merge, -1, event.key, null, null);
        continue;
      }
      if (route.drop) continue;
      const context: EventContext = { key: event.key, type: event.type, ts: event.ts ?? now, data: event.data };
      targets.add(hash, keyBytes, i, RecordKind.Routed, -1, event.key, route, context);
      for (let j = 0; j < route.also.length; j++) {
        const also = route.also[j]!;
        const key = also.key(context);
        const open = openFanOuts.get(key);
        if (open !== undefined && this.foldInto(open, route, j, context)) {
          targets.event[open] = i; // the record's type and ts are its last event's
          continue;
        }
        const derivedHash = checkKey(key, options, id, () => `events[${i}]: the key ${JSON.stringify(key)} made by route ${JSON.stringify(route.name)}`, i);
        const at = targets.add(derivedHash, lastHashedByteLength(), i, RecordKind.FanOut, j, key, route, context);
        if (also.update.foldable) {
          openFanOuts.set(key, at);
          this.openHashes[derivedHash & OPEN_HASH_MASK] = pubStamp;
        } else openFanOuts.delete(key);
      }
    }
  }

  /**
   * Folds a fan-out update into staged record `at` if it has the same shape and ts; false if it
   * cannot. The record carries one ts, which a new key's record takes as its firstTs and every
   * record as its lastTs: only updates of one ts fold exactly (events without ts share the pub's).
   */
  private foldInto(at: number, route: CompiledRoute, also: number, context: EventContext): boolean {
    const { targets } = this;
    if (targets.routes[at] !== route || targets.also[at] !== also || targets.contexts[at]!.ts !== context.ts) return false;
    let fold = targets.folds[at]!;
    if (fold === null) fold = targets.folds[at] = new FoldedUpdate(route.also[also]!.update, targets.contexts[at]!);
    return fold.updates < MAX_FOLDED_UPDATES && fold.fold(context);
  }

  private backlogBytes(): number {
    let bytes = 0;
    for (let w = 0; w < this.channels.length; w++) bytes += this.channels[w]!.backlogBytes;
    return bytes;
  }
}
