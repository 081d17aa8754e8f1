// Reading a pub's MessagePack frame without decoding it, for the bench's servers that only need the
// id to ack (the uWS ceiling) or forward the frame's bytes (the queue pipelines' front ends). The
// load generator's pubs put the id before their events.
import { collectionSize, mapHeaderBytes, numberBytes, readNumber, valueEnd } from '../src/shared/msgpack-scalars.js';

/** MessagePack of the string "id". */
const ID_NAME = [0xa2, 0x69, 0x64];

/**
 * Where the value of the map entry named `name` (its MessagePack string bytes) starts, in the map
 * at `at`; -1 when the map has no such entry before a value these readers do not cover.
 */
export function entryValueAt(buf: Uint8Array, view: DataView, at: number, name: readonly number[]): number {
  const header = mapHeaderBytes(buf[at]!);
  if (header === 0) return -1;
  let entries = collectionSize(buf, view, at);
  at += header;
  for (; entries > 0; entries--) {
    let isName = true;
    for (let i = 0; i < name.length && isName; i++) isName = buf[at + i] === name[i];
    at = valueEnd(buf, view, at);
    if (isName) return at;
    at = valueEnd(buf, view, at);
    if (at < 0) return -1;
  }
  return -1;
}

/** The pub's `id`; -1 when the frame is not a map or the id does not come before any collection value. */
export function pubId(frame: Uint8Array): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const at = entryValueAt(frame, view, 0, ID_NAME);
  return at >= 0 && numberBytes(frame[at]!) > 0 ? readNumber(frame, view, at) : -1;
}
