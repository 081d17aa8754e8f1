// Wire protocol v1 (DESIGN.md): message types, error codes, frame decoding and encoding.
import { msgpack } from '../shared/msgpack.js';
import type { MetaRecord } from '../shared/metadata.js';

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
  | { op: 'ack'; id: number; dup?: true }
  | { op: 'error'; id: number | null; code: ErrorCode; message: string; index?: number }
  | { op: 'meta'; id: number; key: string; meta: MetaRecord | null };

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

/** Decodes one frame into an untrusted value; throws ProtocolError(BAD_FRAME) when it cannot. */
export function decodeFrame(frame: ArrayBuffer, isBinary: boolean): unknown {
  try {
    if (isBinary) return msgpack.unpack(new Uint8Array(frame));
    return JSON.parse(utf8.decode(frame));
  } catch (error) {
    const what = isBinary ? 'MessagePack' : 'JSON (UTF-8)';
    throw new ProtocolError(ErrorCode.BAD_FRAME, `frame is not valid ${what}: ${(error as Error).message}`);
  }
}

export function encodeMessage(message: ServerMessage, encoding: Encoding): string | Buffer {
  return encoding === 'json' ? JSON.stringify(message) : msgpack.pack(message);
}

export function errorMessage(error: ProtocolError): ServerMessage {
  const message: ServerMessage = { op: 'error', id: error.id, code: error.code, message: error.message };
  if (error.index !== undefined) message.index = error.index;
  return message;
}
