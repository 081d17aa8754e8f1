// Splitting a pub's events by key between the consumers of a queue pipeline, as an operator runs
// several consumers of one stream and keeps each key's order: consumer = fnv1a32(key) mod N, the
// engine's own partition function. The events' bytes are copied, not decoded: each part is a
// MessagePack map {events: [...]} (what the consumers read of a pub) behind the pipeline's ref.
import { arrayHeaderBytes, collectionSize, stringHeaderBytes, stringLength, valueEnd } from '../src/shared/msgpack-scalars.js';
import { fnv1a32Bytes } from '../src/shared/partition.js';
import { entryValueAt } from './pub-id.js';

const EVENTS_NAME = [0xa6, ...Buffer.from('events')];
const KEY_NAME = [0xa3, ...Buffer.from('key')];
/** {events: as the head of a part; its array header (array 32) follows. */
const PART_HEAD = [0x81, ...EVENTS_NAME, 0xdd];

export class PubSplitter {
  /** Per event: its byte range in the frame and its consumer. */
  private start = new Int32Array(256);
  private end = new Int32Array(256);
  private part = new Uint8Array(256);
  private readonly counts: Int32Array;
  private readonly bytes: Int32Array;

  constructor(
    readonly parts: number,
    private readonly refBytes: number,
  ) {
    this.counts = new Int32Array(parts);
    this.bytes = new Int32Array(parts);
  }

  /**
   * The parts of `frame` for consumers 0…parts−1, each `refBytes` (left for the caller's ref) then
   * {events: [its events]}; null for a consumer that gets none. Throws on a frame that is not a pub
   * with keyed events (the load generator sends nothing else).
   */
  split(frame: Buffer): (Buffer | null)[] {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    let at = entryValueAt(frame, view, 0, EVENTS_NAME);
    const arrayHeader = at < 0 ? 0 : arrayHeaderBytes(frame[at]!);
    if (arrayHeader === 0) throw new Error('not a pub with an events array');
    const events = collectionSize(frame, view, at);
    this.reserve(events);
    this.counts.fill(0);
    this.bytes.fill(0);
    at += arrayHeader;
    for (let i = 0; i < events; i++) {
      const keyAt = entryValueAt(frame, view, at, KEY_NAME);
      if (keyAt < 0 || stringHeaderBytes(frame[keyAt]!) === 0) throw new Error(`event ${i} has no string key`);
      const keyStart = keyAt + stringHeaderBytes(frame[keyAt]!);
      const part = fnv1a32Bytes(frame, keyStart, keyStart + stringLength(frame, view, keyAt)) % this.parts;
      const end = valueEnd(frame, view, at);
      this.start[i] = at;
      this.end[i] = end;
      this.part[i] = part;
      this.counts[part]!++;
      this.bytes[part]! += end - at;
      at = end;
    }
    const parts: (Buffer | null)[] = [];
    for (let p = 0; p < this.parts; p++) {
      if (this.counts[p] === 0) {
        parts.push(null);
        continue;
      }
      const out = Buffer.allocUnsafe(this.refBytes + PART_HEAD.length + 4 + this.bytes[p]!);
      let to = this.refBytes;
      for (const byte of PART_HEAD) out[to++] = byte;
      to = out.writeUInt32BE(this.counts[p]!, to);
      for (let i = 0; i < events; i++) if (this.part[i] === p) to += frame.copy(out, to, this.start[i], this.end[i]);
      parts.push(out);
    }
    return parts;
  }

  private reserve(events: number): void {
    if (events <= this.start.length) return;
    this.start = new Int32Array(events);
    this.end = new Int32Array(events);
    this.part = new Uint8Array(events);
  }
}
