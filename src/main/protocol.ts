// Wire protocol v1 (DESIGN.md): message types, error codes, frame decoding and encoding.
import { Unpackr } from 'msgpackr';
import { msgpack } from '../shared/msgpack.js';
import type { MetaRecord } from '../shared/metadata.js';
import type { ReplayedEvent } from './replay.js';

export type Encoding = 'json' | 'msgpack';

export const SUBPROTOCOLS: Record<string, Encoding> = {
  'hunt.v1.msgpack': 'msgpack',
  'hunt.v1.json': 'json',
};

export const ErrorCode = {
  /** The frame could not be decoded, is not a map, or has an unknown op or malformed fields. */
  BAD_FRAME: 'BAD_FRAME',
  /** An event of a pub is invalid; `index` names it. Nothing of the pub is applied. */
  BAD_EVENT: 'BAD_EVENT',
  /** The frame or the pub exceeds an advertised limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** The connection's in-flight window is full, or the engine's backlog is: retry later. */
  OVERLOADED: 'OVERLOADED',
  /** Missing or wrong bearer token (HTTP 401 / upgrade refused). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A valid op this version does not provide yet. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** Storage failed while applying the pub; it may be partly applied and must not be assumed applied. */
  STORAGE: 'STORAGE',
  /** A replay asked for offsets the log no longer holds; the message names the earliest held. */
  OUT_OF_RANGE: 'OUT_OF_RANGE',
  /** The engine is stopping and takes no new pubs. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** A bug on our side; the message was not applied. Reported, logged, never silent. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface WireEvent {
  key: string;
  type: string;
  ts?: number;
  data?: Record<string, unknown>;
}

export interface GetMessage {
  op: 'get';
  id: number;
  key: string;
}

export interface HelloMessage {
  op: 'hello';
  id: number | null;
  producer: string;
}

export interface ReplayMessage {
  op: 'replay';
  id: number;
  partition: number;
  key: string | null;
  from: number;
  limit: number;
  /** Stream on past the end: every event committed later, until `unfollow`. */
  follow: boolean;
}

export interface UnfollowMessage {
  op: 'unfollow';
  id: number;
  /** The id of the `replay` that started the follow. */
  replay: number;
}

export interface SubMessage {
  op: 'sub' | 'unsub';
  id: number;
  keys: string[];
  prefixes: string[];
  /** sub of one key: the version the subscriber last saw, to be sent what it missed since. */
  from: number | null;
}

export interface Limits {
  maxInFlight: number;
  maxEventsPerPub: number;
  maxPayloadBytes: number;
  maxKeyBytes: number;
  maxTypeBytes: number;
  maxDataDepth: number;
}

export type ServerMessage =
  | ({ op: 'welcome'; v: 1; encoding: Encoding; partitions: number; durability: string } & Limits)
  | { op: 'ack'; id: number; dup?: true; recovered?: boolean; seq?: number }
  | { op: 'error'; id: number | null; code: ErrorCode; message: string; index?: number }
  | { op: 'meta'; id: number; key: string; meta: MetaRecord | null }
  | { op: 'update'; key: string; meta: MetaRecord }
  | { op: 'lagging'; message: string }
  | { op: 'events'; id: number; partition: number; events: ReplayedEvent[]; next: number | null }
  | { op: 'missed'; key: string; events: ReplayedEvent[] };

export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly id: number | null = null,
    readonly index?: number,
  ) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// msgpackr always decodes its own records extension; given a structures array, it leaves the
// definitions a frame made there, which is how a frame using it is told apart (and refused).
const recordStructures: object[] = [];
const frameDecoder = new Unpackr({ useRecords: false, mapsAsObjects: true, structures: recordStructures });

/** Decodes one frame into an untrusted value; throws ProtocolError(BAD_FRAME) when it cannot. */
export function decodeFrame(frame: ArrayBuffer, isBinary: boolean): unknown {
  let message: unknown;
  try {
    message = isBinary ? frameDecoder.unpack(new Uint8Array(frame)) : JSON.parse(utf8.decode(frame));
  } catch (error) {
    recordStructures.length = 0;
    const what = isBinary ? 'MessagePack' : 'JSON (UTF-8)';
    throw new ProtocolError(ErrorCode.BAD_FRAME, `frame is not valid ${what}: ${(error as Error).message}`);
  }
  if (recordStructures.length > 0) {
    recordStructures.length = 0;
    throw new ProtocolError(ErrorCode.BAD_FRAME, 'frame uses the msgpackr records extension; send standard MessagePack maps');
  }
  return message;
}

export function encodeMessage(message: ServerMessage, encoding: Encoding): string | Buffer {
  return encoding === 'json' ? JSON.stringify(message) : msgpack.pack(message);
}

export function errorMessage(error: ProtocolError): ServerMessage {
  const message: ServerMessage = { op: 'error', id: error.id, code: error.code, message: error.message };
  if (error.index !== undefined) message.index = error.index;
  return message;
}
