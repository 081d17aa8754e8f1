// The records one pub will write, staged while the pub is validated: one per event (its own key)
// and one per fan-out key of its route (later updates of the same fan-out key folded into it,
// update-fold.ts). Nothing is written until every event and every derived key
// has passed, so an invalid pub leaves no trace. Reused from pub to pub (no per-event allocation
// on the plain path).
import { RecordKind } from '../../shared/event-record.js';
import type { CompiledRoute, EventContext } from '../routes/routes.js';
import type { FoldedUpdate } from '../routes/update-fold.js';

export class PubTargets {
  count = 0;
  hash: Uint32Array;
  keyBytes: Uint16Array;
  event: Uint32Array;
  kind: Uint8Array;
  /** For FanOut: which of the route's `also` entries; the derived key is in `keys`. */
  also: Int16Array;
  keys: string[] = [];
  routes: (CompiledRoute | null)[] = [];
  contexts: (EventContext | null)[] = [];
  /** For FanOut: the updates of later events of the pub folded into this record, if any. */
  folds: (FoldedUpdate | null)[] = [];

  constructor(capacity: number) {
    this.hash = new Uint32Array(capacity);
    this.keyBytes = new Uint16Array(capacity);
    this.event = new Uint32Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.also = new Int16Array(capacity);
  }

  reset(): void {
    this.count = 0;
  }

  /** Stages a record; returns its index. */
  add(hash: number, keyBytes: number, event: number, kind: RecordKind, also: number, key: string, route: CompiledRoute | null, context: EventContext | null): number {
    if (this.count === this.hash.length) this.grow();
    const i = this.count++;
    this.hash[i] = hash;
    this.keyBytes[i] = keyBytes;
    this.event[i] = event;
    this.kind[i] = kind;
    this.also[i] = also;
    this.keys[i] = key;
    this.routes[i] = route;
    this.contexts[i] = context;
    this.folds[i] = null;
    return i;
  }

  private grow(): void {
    const size = this.hash.length * 2;
    const copy = <T extends Uint32Array | Uint16Array | Uint8Array | Int16Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.hash = copy(this.hash, new Uint32Array(size));
    this.keyBytes = copy(this.keyBytes, new Uint16Array(size));
    this.event = copy(this.event, new Uint32Array(size));
    this.kind = copy(this.kind, new Uint8Array(size));
    this.also = copy(this.also, new Int16Array(size));
  }
}
