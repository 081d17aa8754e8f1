// Validation of untrusted client requests other than events (shared/event-checks.ts): every field's
// type is checked before use, and a field a request does not have is refused.
import { checkKey } from '../../shared/event-checks.js';
import { partitionOf } from '../../shared/partition.js';
import { ErrorCode, ProtocolError, type AuthMessage, type GetMessage, type HelloMessage, type Limits, type ReplayMessage, type SubMessage, type UnfollowMessage } from '../../shared/wire.js';

/** A request id: an unsigned integer; null when the message carries none we can echo. */
export function requestId(message: Record<string, unknown>): number | null {
  const id = message.id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : null;
}

export function requireId(message: Record<string, unknown>, op: string): number {
  const id = requestId(message);
  if (id === null) throw new ProtocolError(ErrorCode.BAD_FRAME, `${op}: "id" must be an unsigned integer up to 2^53−1`);
  return id;
}

export function checkGet(message: Record<string, unknown>, limits: Limits): GetMessage {
  const id = requireId(message, 'get');
  try {
    checkKey(message.key, limits, id, 'key');
  } catch (error) {
    // Not an event: a malformed request field.
    throw new ProtocolError(ErrorCode.BAD_FRAME, `get: ${(error as ProtocolError).message}`, id);
  }
  return { op: 'get', id, key: message.key as string };
}

/** Longest producer name, in UTF-8 bytes (it is part of an LMDB key). */
export const MAX_PRODUCER_BYTES = 256;

export function checkHello(message: Record<string, unknown>): HelloMessage {
  const id = requestId(message);
  if (message.id !== undefined && id === null) throw new ProtocolError(ErrorCode.BAD_FRAME, 'hello: "id" must be an unsigned integer up to 2^53−1');
  checkFields(message, 'hello', id, ['producer']);
  const producer = message.producer;
  if (
    typeof producer !== 'string' ||
    producer.length === 0 ||
    Buffer.byteLength(producer, 'utf8') > MAX_PRODUCER_BYTES ||
    producer.includes('\u0000') ||
    !producer.isWellFormed()
  ) {
    throw new ProtocolError(
      ErrorCode.BAD_FRAME,
      `hello: "producer" must be a non-empty string of valid Unicode without NUL, at most ${MAX_PRODUCER_BYTES} UTF-8 bytes`,
      id,
    );
  }
  return { op: 'hello', id, producer };
}

/** A pub's seq: required from an idempotent producer, refused from anyone else. */
export function checkSeq(seq: unknown, isProducer: boolean, id: number): number {
  if (!isProducer) {
    if (seq === undefined) return 0;
    throw new ProtocolError(ErrorCode.BAD_FRAME, 'pub: "seq" is only allowed after a hello (idempotent producers)', id);
  }
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, 'pub: an idempotent producer\'s pub needs "seq", an integer from 1 to 2^53-1', id);
  }
  return seq;
}

/** Refuses fields a message of `op` does not have (a typo must not be silently ignored). */
function checkFields(message: Record<string, unknown>, op: string, id: number | null, allowed: readonly string[]): void {
  for (const name in message) {
    if (name !== 'op' && name !== 'id' && !allowed.includes(name)) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, `${op} has unknown field ${JSON.stringify(name)}`, id);
    }
  }
}

/** An integer field of a request within [min, max]; `fallback` when absent (undefined: required). */
function integerField(message: Record<string, unknown>, op: string, id: number, name: string, min: number, max: number, fallback: number | undefined): number {
  const value = message[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `${op}: "${name}" must be an integer from ${min} to ${max}`, id);
  }
  return value;
}

/**
 * sub/unsub: `keys` (exact keys) and/or `prefixes` (non-empty key prefixes), each valid keys; a
 * sub of exactly one key may give `from`, the version it last saw.
 */
export function checkSub(message: Record<string, unknown>, limits: Limits): SubMessage {
  const op = message.op as 'sub' | 'unsub';
  const id = requireId(message, op);
  checkFields(message, op, id, op === 'sub' ? ['keys', 'prefixes', 'from'] : ['keys', 'prefixes']);
  const list = (field: 'keys' | 'prefixes'): string[] => {
    const value = message[field];
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw new ProtocolError(ErrorCode.BAD_FRAME, `${op}: "${field}" must be an array of strings`, id);
    value.forEach((item, i) => {
      try {
        checkKey(item, limits, id, `${field}[${i}]`);
      } catch (error) {
        throw new ProtocolError(ErrorCode.BAD_FRAME, `${op}: ${(error as ProtocolError).message}`, id);
      }
    });
    return value as string[];
  };
  const keys = list('keys');
  const prefixes = list('prefixes');
  if (keys.length + prefixes.length === 0) throw new ProtocolError(ErrorCode.BAD_FRAME, `${op}: give "keys" and/or "prefixes"`, id);
  if (message.from === undefined) return { op, id, keys, prefixes, from: null };
  if (keys.length !== 1 || prefixes.length !== 0) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, 'sub: "from" (a version of one key) needs exactly one key in "keys" and no "prefixes"', id);
  }
  return { op, id, keys, prefixes, from: integerField(message, op, id, 'from', 0, Number.MAX_SAFE_INTEGER, undefined) };
}

/** A token longer than this is no token of ours (JWTs with a few prefixes are well under 2 KiB). */
const MAX_TOKEN_CHARS = 8192;

/** auth: `token`, a non-empty string. */
export function checkAuth(message: Record<string, unknown>): AuthMessage {
  const id = requireId(message, 'auth');
  checkFields(message, 'auth', id, ['token']);
  const token = message.token;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `auth: "token" must be a string of 1 to ${MAX_TOKEN_CHARS} characters`, id);
  }
  return { op: 'auth', id, token };
}

export const MAX_REPLAY_LIMIT = 1000;

/** replay: `partition` or `key` (its partition; only its events), `from` offset, `limit`. */
export function checkReplay(message: Record<string, unknown>, limits: Limits, partitions: number): ReplayMessage {
  const id = requireId(message, 'replay');
  checkFields(message, 'replay', id, ['partition', 'key', 'from', 'limit', 'follow']);
  const integer = (name: string, min: number, max: number, fallback: number | undefined) => integerField(message, 'replay', id, name, min, max, fallback);
  const follow = message.follow ?? false;
  if (typeof follow !== 'boolean') throw new ProtocolError(ErrorCode.BAD_FRAME, 'replay: "follow" must be true or false', id);
  let key: string | null = null;
  let partition: number;
  if (message.key !== undefined) {
    try {
      checkKey(message.key, limits, id, 'key');
    } catch (error) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, `replay: ${(error as ProtocolError).message}`, id);
    }
    key = message.key as string;
    partition = partitionOf(key, partitions);
    if (message.partition !== undefined && message.partition !== partition) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, `replay: key ${JSON.stringify(key)} is in partition ${partition}, not ${String(message.partition)}`, id);
    }
  } else partition = integer('partition', 0, partitions - 1, undefined);
  return { op: 'replay', id, partition, key, from: integer('from', 0, Number.MAX_SAFE_INTEGER, 0), limit: integer('limit', 1, MAX_REPLAY_LIMIT, 100), follow };
}

/** unfollow: `replay`, the id of the replay whose follow ends. */
export function checkUnfollow(message: Record<string, unknown>): UnfollowMessage {
  const id = requireId(message, 'unfollow');
  checkFields(message, 'unfollow', id, ['replay']);
  return { op: 'unfollow', id, replay: integerField(message, 'unfollow', id, 'replay', 0, Number.MAX_SAFE_INTEGER, undefined) };
}
