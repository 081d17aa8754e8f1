// Checks of an event as the engine takes it, from a pub (main/ingest) or from a message a Kafka
// producer wrote to the events topic in cluster mode (workers/plain-message.ts). Decoders give us
// arbitrary values (msgpackr can even produce Sets, RegExps, Errors and BigInts), so every field's
// type is checked before use.
import { isUtf8 } from 'node:buffer';
import { fnv1a32Utf8, lastHashedByteLength } from './partition.js';
import { FORBIDDEN_NAMES } from './update-ops.js';
import { ErrorCode, ProtocolError, type Limits, type WireEvent } from './wire.js';

/** What the event checks need of the limits. */
export type EventLimits = Pick<Limits, 'maxKeyBytes' | 'maxTypeBytes' | 'maxDataDepth'>;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const nameOf = (what: string | (() => string)): string => (typeof what === 'string' ? what : what());

/**
 * Checks a key and returns its partition hash; the UTF-8 length is left in lastHashedByteLength().
 * `what` names the key in messages ("events[3].key", "key"); a function when the name costs
 * something to build (only a refused key needs it).
 */
export function checkKey(key: unknown, limits: EventLimits, id: number | null, what: string | (() => string), index?: number): number {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ProtocolError(ErrorCode.BAD_EVENT, `${nameOf(what)} must be a non-empty string`, id, index);
  }
  const hash = fnv1a32Utf8(key);
  if (lastHashedByteLength() > limits.maxKeyBytes) {
    throw new ProtocolError(ErrorCode.BAD_EVENT, `${nameOf(what)} is ${lastHashedByteLength()} bytes of UTF-8, more than maxKeyBytes ${limits.maxKeyBytes}`, id, index);
  }
  if (key.includes('\u0000')) {
    throw new ProtocolError(ErrorCode.BAD_EVENT, `${nameOf(what)} must not contain NUL characters`, id, index);
  }
  if (!key.isWellFormed()) {
    throw new ProtocolError(ErrorCode.BAD_EVENT, `${nameOf(what)} contains an unpaired UTF-16 surrogate (not valid Unicode)`, id, index);
  }
  return hash;
}

/**
 * checkKey's test for a key given as UTF-8 bytes, buf[start, end): true when checkKey would take
 * the string they encode (for the fast paths, which decline anything else to checkKey).
 */
export function isAllowedKeyBytes(buf: Uint8Array, start: number, end: number, limits: EventLimits): boolean {
  const length = end - start;
  if (length === 0 || length > limits.maxKeyBytes) return false;
  let ascii = true;
  for (let at = start; at < end; at++) {
    const byte = buf[at]!;
    if (byte === 0) return false;
    if (byte >= 0x80) ascii = false;
  }
  return ascii || isUtf8(buf.subarray(start, end));
}

/** Checks one event of a pub; returns the key's hash (its byte length in lastHashedByteLength()). */
export function checkEvent(event: unknown, index: number, limits: EventLimits, id: number): number {
  if (!isPlainObject(event)) throw new ProtocolError(ErrorCode.BAD_EVENT, `events[${index}] must be a map`, id, index);
  const e = event as Partial<WireEvent> & Record<string, unknown>;
  const type = e.type;
  if (typeof type !== 'string' || type.length === 0) {
    throw new ProtocolError(ErrorCode.BAD_EVENT, `events[${index}].type must be a non-empty string`, id, index);
  }
  if (Buffer.byteLength(type, 'utf8') > limits.maxTypeBytes || !type.isWellFormed() || FORBIDDEN_NAMES.has(type)) {
    throw new ProtocolError(
      ErrorCode.BAD_EVENT,
      `events[${index}].type must be valid Unicode of at most ${limits.maxTypeBytes} UTF-8 bytes and not __proto__, constructor or prototype`,
      id,
      index,
    );
  }
  if (e.ts !== undefined && (typeof e.ts !== 'number' || !Number.isFinite(e.ts))) {
    const problem = typeof e.ts === 'bigint' ? BEYOND_SAFE : 'must be a finite number';
    throw new ProtocolError(ErrorCode.BAD_EVENT, `events[${index}].ts ${problem}`, id, index);
  }
  if (e.data !== undefined) {
    if (!isPlainObject(e.data)) throw new ProtocolError(ErrorCode.BAD_EVENT, `events[${index}].data must be a map`, id, index);
    const problem = dataProblem(e.data, 1, limits.maxDataDepth, `events[${index}].data`);
    if (problem !== null) throw new ProtocolError(ErrorCode.BAD_EVENT, problem, id, index);
  }
  for (const name in e) {
    if (name !== 'key' && name !== 'type' && name !== 'ts' && name !== 'data') {
      throw new ProtocolError(ErrorCode.BAD_EVENT, `events[${index}] has unknown field ${JSON.stringify(name)}`, id, index);
    }
  }
  return checkKey(e.key, limits, id, `events[${index}].key`, index);
}

/** What is wrong with a 64-bit integer left a BigInt by decodeFrame. */
const BEYOND_SAFE = 'is an integer beyond ±(2^53−1), which a number cannot hold exactly (send it as a string)';

/** Why a data value is not storable (null when it is): JSON-like values only, bounded depth. */
function dataProblem(value: unknown, depth: number, maxDepth: number, path: string): string | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${path} must be a finite number`;
    case 'bigint':
      return `${path} ${BEYOND_SAFE}`;
    case 'object': {
      if (value === null) return null;
      if (depth > maxDepth) return `${path} nests deeper than maxDataDepth ${maxDepth}`;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const problem = dataProblem(value[i], depth + 1, maxDepth, `${path}[${i}]`);
          if (problem !== null) return problem;
        }
        return null;
      }
      if (!isPlainObject(value)) return `${path} must be null, a boolean, number, string, array or map`;
      for (const name in value) {
        if (FORBIDDEN_NAMES.has(name)) return `${path} uses the forbidden field name ${JSON.stringify(name)}`;
        const problem = dataProblem(value[name], depth + 1, maxDepth, `${path}.${name}`);
        if (problem !== null) return problem;
      }
      return null;
    }
    default:
      return `${path} must be null, a boolean, number, string, array or map`;
  }
}

