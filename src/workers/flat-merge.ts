// The default merge's common case without decoding `data` into an object first: when the event's
// data is a flat MessagePack map (string keys; numbers, strings, booleans or nil as values), its
// entries are read straight from the ring into the record's `fields`. Field names and string values
// are interned (in tables of their own).
// Anything else (nested values, binary) returns false and the caller decodes the data normally.
import { collectionSize, mapHeaderBytes, numberBytes, readNumber, stringHeaderBytes, stringLength } from '../shared/msgpack-scalars.js';
import type { Utf8Buffer } from '../shared/utf8-buffer.js';
import type { Utf8Interner } from '../shared/utf8-interner.js';

/** Merges the map at buf[start, end) into `fields` if it is flat; false (nothing changed) otherwise. */
export function mergeFlatMap(fields: Record<string, unknown>, buf: Utf8Buffer, view: DataView, start: number, end: number, names: Utf8Interner, strings: Utf8Interner): boolean {
  const header = mapHeaderBytes(buf[start]!);
  if (header === 0) return false;
  const size = collectionSize(buf, view, start);
  let at = start + header;
  // Checked before anything is written: a map with a nested value is merged by the caller.
  const entriesAt = at;
  for (let i = 0; i < size; i++) {
    at = skipString(buf, view, at);
    if (at < 0) return false;
    at = skipScalar(buf, view, at);
    if (at < 0) return false;
  }
  if (at !== end) return false;
  at = entriesAt;
  for (let i = 0; i < size; i++) {
    const nameStart = at + stringHeaderBytes(buf[at]!);
    const nameEnd = nameStart + stringLength(buf, view, at);
    const name = names.intern(buf, nameStart, nameEnd);
    at = nameEnd;
    const valueEnd = skipScalar(buf, view, at);
    // The front end refuses these names; keep prototypes safe whatever reaches this point.
    if (name !== '__proto__') fields[name] = readScalar(buf, view, at, valueEnd, strings);
    at = valueEnd;
  }
  return true;
}

function skipString(buf: Uint8Array, view: DataView, at: number): number {
  const header = stringHeaderBytes(buf[at]!);
  return header === 0 ? -1 : at + header + stringLength(buf, view, at);
}

/** The end of the scalar at `at`, or -1 if it is not one this fast path reads. */
function skipScalar(buf: Uint8Array, view: DataView, at: number): number {
  const head = buf[at]!;
  if (head === 0xc0 || head === 0xc2 || head === 0xc3) return at + 1;
  if (stringHeaderBytes(head) > 0) return skipString(buf, view, at);
  const size = numberBytes(head);
  return size === 0 ? -1 : at + size;
}

function readScalar(buf: Utf8Buffer, view: DataView, at: number, end: number, strings: Utf8Interner): unknown {
  const head = buf[at]!;
  if (head === 0xc0) return null;
  if (head === 0xc2) return false;
  if (head === 0xc3) return true;
  if (numberBytes(head) > 0) return readNumber(buf, view, at);
  return strings.intern(buf, at + stringHeaderBytes(head), end);
}
