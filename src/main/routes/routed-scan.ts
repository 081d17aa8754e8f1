// The routed pub fast path: a MessagePack pub the scanner accepted (pub-scanner.ts) is staged under
// the routes in force from the frame's bytes — route matched by type and key prefix, required data
// fields found and their kinds checked, fan-out keys built and hashed from bytes, update documents
// written from the routes' byte templates (route-bytes.ts), fan-out updates folded (byte-fold.ts)
// — as ingest.ts's general path stages the decoded pub, record for record.
//
// Like the scanner, it never decides a rejection: anything the general path would refuse or that
// it does not cover (an event matching no route when unmatched events are rejected, a missing or
// mistyped required field, a fan-out key out of limits or not valid UTF-8, a route without a plan)
// makes `stage` return false, and the pub takes the general path, which gives the exact answer.
import { BinaryWriter } from '../../shared/binary-writer.js';
import { sameBytes } from '../../shared/byte-ranges.js';
import { RecordKind, type RecordProducer } from '../../shared/event-record.js';
import { arrayHeaderBytes, collectionSize, mapHeaderBytes, numberBytes, stringHeaderBytes, stringLength, valueEnd } from '../../shared/msgpack-scalars.js';
import { fnv1a32Bytes } from '../../shared/partition.js';
import type { Utf8Buffer } from '../../shared/utf8-buffer.js';
import { Utf8Interner } from '../../shared/utf8-interner.js';
import { ByteFold } from './byte-fold.js';
import { OpenFolds } from './open-folds.js';
import type { PartitionChannel } from '../ingest/partition-channel.js';
import type { PubScanner } from '../ingest/pub-scanner.js';
import { PubTargets } from '../ingest/pub-targets.js';
import { type Limits } from '../../shared/wire.js';
import { writeKey, writeTemplate, type RoutePlan, type ScannedEvents } from './route-bytes.js';
import type { FieldKind } from './routes.js';
import type { Router } from './router.js';
import { isAllowedKeyBytes } from '../../shared/event-checks.js';

export class RoutedScan {
  readonly targets: PubTargets;
  private readonly events: ScannedEvents;
  /** Per event of the pub: its route's index, -1 for none. */
  private readonly routeOfEvent: Int32Array;
  /** Per staged record: where its key lies in `keys`. */
  private keyAt: number[] = [];
  private keys = new Uint8Array(64 * 1024);
  private keysLength = 0;
  /** Per staged record: its route's plan (null: the default merge). */
  private plans: (RoutePlan | null)[] = [];
  /** Per staged fan-out record: its fold, when its update can fold. */
  private folds: (ByteFold | null)[] = [];
  private readonly foldPool: ByteFold[] = [];
  private foldsUsed = 0;
  /** Fan-out records later updates of their key may fold into, by key hash. */
  private readonly openFanOuts = new OpenFolds();
  private readonly types = new Utf8Interner();
  private readonly writer = new BinaryWriter();
  private scanner!: PubScanner;
  /** The router the field slots are sized for. */
  private sizedFor: Router | null = null;

  constructor(private readonly limits: Limits) {
    const capacity = limits.maxEventsPerPub;
    this.targets = new PubTargets(capacity);
    this.routeOfEvent = new Int32Array(capacity);
    this.events = {
      frame: new Uint8Array(0),
      view: new DataView(new ArrayBuffer(0)),
      keyStart: new Int32Array(0),
      keyEnd: new Int32Array(0),
      typeStart: new Int32Array(0),
      typeEnd: new Int32Array(0),
      ts: new Float64Array(capacity),
      fieldStart: new Int32Array(0),
      fieldEnd: new Int32Array(0),
      fieldsPerEvent: 0,
    };
  }

  /** Sizes per-pub tables for `router`: field slots for its most required fields, fold slots for its most fan-outs. */
  private sizeFor(router: Router): void {
    const { routes } = router.config;
    const fields = Math.max(0, ...routes.map((route) => route.require.length));
    const slots = this.limits.maxEventsPerPub * fields;
    this.events.fieldStart = new Int32Array(slots);
    this.events.fieldEnd = new Int32Array(slots);
    this.events.fieldsPerEvent = fields;
    this.openFanOuts.size(this.limits.maxEventsPerPub * Math.max(0, ...routes.map((route) => route.also.length)));
    this.sizedFor = router;
  }

  /** Stages the scanned pub in `frame` under `router`; false, with nothing counted, when the general path must take it. */
  stage(frame: Buffer, scanner: PubScanner, router: Router, now: number): boolean {
    const { targets, events, openFanOuts, routeOfEvent, limits } = this;
    if (this.sizedFor !== router) this.sizeFor(router);
    this.scanner = scanner;
    targets.reset();
    openFanOuts.clear();
    this.keysLength = 0;
    this.foldsUsed = 0;
    events.frame = frame;
    events.view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    events.keyStart = scanner.keyStart;
    events.keyEnd = scanner.keyEnd;
    events.typeStart = scanner.typeStart;
    events.typeEnd = scanner.typeEnd;
    for (let i = 0; i < scanner.count; i++) {
      const ts = scanner.ts[i]!;
      events.ts[i] = Number.isNaN(ts) ? now : ts;
      const keyHash = scanner.keyHash[i]!;
      const keyStart = scanner.keyStart[i]!;
      const keyEnd = scanner.keyEnd[i]!;
      const type = this.types.intern(frame as Utf8Buffer, scanner.typeStart[i]!, scanner.typeEnd[i]!);
      const route = router.routeOfKeyBytes(type, frame, keyStart, keyEnd);
      routeOfEvent[i] = route === null ? -1 : route.index;
      // Another record of a key closes its open fan-out (per-key order); a hash match is enough.
      openFanOuts.close(keyHash);
      if (route === null) {
        if (router.config.unmatched === 'reject') return false;
        this.add(keyHash, keyEnd - keyStart, -1, i, RecordKind.Merge, -1, null);
        continue;
      }
      const plan = router.plans[route.index]!;
      if (plan === null) return false;
      if (route.drop) continue;
      if (!this.findFields(i, plan, scanner.dataStart[i]!, scanner.dataEnd[i]!)) return false;
      this.add(keyHash, keyEnd - keyStart, -1, i, RecordKind.Routed, -1, plan);
      for (let j = 0; j < plan.also.length; j++) {
        const start = this.keysLength;
        let end: number;
        while ((end = writeKey(plan.also[j]!.key, this.keys, start, events, i)) === -1) this.growKeys();
        const hash = fnv1a32Bytes(this.keys, start, end);
        const open = openFanOuts.get(hash);
        // Only updates of one ts fold (see ingest.ts's foldInto). A key equal to an open record's was checked then.
        if (open !== -1 && events.ts[targets.event[open]!] === events.ts[i] && this.sameFanOut(open, plan, j, start, end) && this.folds[open]!.fold(events, i)) {
          targets.event[open] = i; // the record's type and ts are its last event's
          continue;
        }
        if (!isAllowedKeyBytes(this.keys, start, end, limits)) return false;
        this.keysLength = end;
        const at = this.add(hash, end - start, start, i, RecordKind.FanOut, j, plan);
        const update = plan.also[j]!.update;
        if (update.foldable) {
          const fold = (this.foldPool[this.foldsUsed++] ??= new ByteFold());
          fold.start(update, events, i);
          this.folds[at] = fold;
          openFanOuts.set(hash, at);
        } else openFanOuts.close(hash);
      }
    }
    router.countMatches(routeOfEvent, scanner.count);
    return true;
  }

  /** Writes staged record `i` (stage() returned true) into `channel`. */
  write(channel: PartitionChannel, i: number, partition: number, producer: RecordProducer): void {
    const { targets, events, writer, scanner } = this;
    const event = targets.event[i]!;
    const kind = targets.kind[i] as RecordKind;
    const { frame } = events;
    if (kind === RecordKind.Merge) return channel.writeScannedEvent(partition, frame, scanner, event, events.ts[event]!, producer);
    const plan = this.plans[i]!;
    const fold = this.folds[i]!;
    writer.reset();
    if (kind === RecordKind.Routed) {
      if (plan.own === null) writer.msgpackMapHeader(0);
      else writeTemplate(plan.own.document, writer, events, event);
    } else if (fold !== null && fold.updates > 1) fold.write(writer, events);
    else writeTemplate(plan.also[targets.also[i]!]!.update.document, writer, events, event);
    // An own key is in the frame; a fan-out key in `keys`.
    const keyAt = this.keyAt[i]!;
    const keySource = keyAt === -1 ? frame : this.keys;
    const keyStart = keyAt === -1 ? events.keyStart[event]! : keyAt;
    channel.writeEventFrom(
      partition,
      keySource,
      keyStart,
      keyStart + targets.keyBytes[i]!,
      targets.hash[i]!,
      frame,
      events.typeStart[event]!,
      events.typeEnd[event]!,
      events.ts[event]!,
      producer,
      kind,
      fold === null ? 1 : fold.updates,
      writer.buffer,
      0,
      writer.length,
    );
  }

  /** Stages a record; `keyAt`: where its key lies in `keys`, -1 for the event's own key (in the frame). */
  private add(hash: number, keyBytes: number, keyAt: number, event: number, kind: RecordKind, also: number, plan: RoutePlan | null): number {
    const at = this.targets.add(hash, keyBytes, event, kind, also, '', null, null);
    this.keyAt[at] = keyAt;
    this.plans[at] = plan;
    this.folds[at] = null;
    return at;
  }

  /** Whether staged record `at` is a fan-out of the same route entry to the key keys[start, end). */
  private sameFanOut(at: number, plan: RoutePlan, also: number, start: number, end: number): boolean {
    const { targets, keys } = this;
    return this.plans[at] === plan && targets.also[at] === also && targets.keyBytes[at] === end - start && sameBytes(keys, this.keyAt[at]!, keys, start, end - start);
  }

  /**
   * Finds the plan's required fields in event `i`'s data (top level; a repeated name counts as
   * its last value, as decoding it would) and checks their kinds; false when one is missing or of
   * another kind.
   */
  private findFields(i: number, plan: RoutePlan, dataStart: number, dataEnd: number): boolean {
    const { events } = this;
    const { frame, view, fieldStart, fieldEnd, fieldsPerEvent } = events;
    const names = plan.fieldNames;
    if (names.length === 0) return true;
    if (dataStart === dataEnd) return false;
    const slots = i * fieldsPerEvent;
    for (let f = 0; f < names.length; f++) fieldStart[slots + f] = -1;
    const entries = collectionSize(frame, view, dataStart);
    let at = dataStart + mapHeaderBytes(frame[dataStart]!);
    for (let e = 0; e < entries; e++) {
      const nameStart = at + stringHeaderBytes(frame[at]!);
      const nameLength = stringLength(frame, view, at);
      const valueStart = nameStart + nameLength;
      at = valueEnd(frame, view, valueStart);
      for (let f = 0; f < names.length; f++) {
        const name = names[f]!;
        if (name.length === nameLength && sameBytes(name, 0, frame, nameStart, nameLength)) {
          fieldStart[slots + f] = valueStart;
          fieldEnd[slots + f] = at;
        }
      }
    }
    for (let f = 0; f < names.length; f++) {
      const start = fieldStart[slots + f]!;
      if (start === -1 || !hasKind(frame[start]!, plan.fieldKinds[f]!)) return false;
    }
    return true;
  }

  private growKeys(): void {
    const next = new Uint8Array(this.keys.length * 2);
    next.set(this.keys);
    this.keys = next;
  }
}

/** Whether a MessagePack value with head byte `head` (of what the scanner accepts) is of `kind`. */
function hasKind(head: number, kind: FieldKind): boolean {
  switch (kind) {
    case 'any':
      return true;
    case 'number':
      return numberBytes(head) > 0;
    case 'string':
      return stringHeaderBytes(head) > 0;
    case 'boolean':
      return head === 0xc2 || head === 0xc3;
    case 'array':
      return arrayHeaderBytes(head) > 0;
    case 'map':
      return mapHeaderBytes(head) > 0;
  }
}
