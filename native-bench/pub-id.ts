// A pub's `id` read from its MessagePack frame without decoding the rest, for the bench's servers
// that only need the id to ack (the uWS ceiling) or to forward the frame's bytes untouched (the
// queue pipelines' front ends). The load generator's pubs put the id before their events.
import { collectionSize, mapHeaderBytes, numberBytes, readNumber, valueEnd } from '../src/shared/msgpack-scalars.js';

/** MessagePack of the string "id". */
const ID_KEY = [0xa2, 0x69, 0x64];

/** The pub's `id`; -1 when the frame is not a map or the id does not come before any collection value. */
export function pubId(frame: Uint8Array): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const header = mapHeaderBytes(frame[0]!);
  if (header === 0) return -1;
  let at = header;
  for (let entry = collectionSize(frame, view, 0); entry > 0; entry--) {
    const isId = frame[at] === ID_KEY[0] && frame[at + 1] === ID_KEY[1] && frame[at + 2] === ID_KEY[2];
    at = valueEnd(frame, view, at);
    if (isId) return numberBytes(frame[at]!) > 0 ? readNumber(frame, view, at) : -1;
    at = valueEnd(frame, view, at);
    if (at < 0) return -1;
  }
  return -1;
}
