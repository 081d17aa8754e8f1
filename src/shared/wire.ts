// The wire protocol's messages and error codes (docs/protocol.md): the types both sides of a
// connection share, the engine's front end and the client library.
import type { MetaRecord } from './metadata.js';

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
  /** Missing or wrong bearer token (HTTP 401 / upgrade refused), or an `auth` whose token is refused. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** The connection's token does not allow this op on this key (docs/operations.md, "Tokens and scopes"). Nothing was applied. */
  FORBIDDEN: 'FORBIDDEN',
  /** A valid op this version does not provide yet. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** Storage failed while applying the pub; it may be partly applied and must not be assumed applied. */
  STORAGE: 'STORAGE',
  /** A replay asked for offsets the log no longer holds; the message names the earliest held. */
  OUT_OF_RANGE: 'OUT_OF_RANGE',
  /** The engine is stopping and takes no new pubs. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** Cluster mode: another host applies the key's partition (the message names its URL), or none does during a rebalance: retry. */
  NOT_OWNER: 'NOT_OWNER',
  /** A bug on our side; the message was not applied. Reported, logged, never silent. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes of the engine's own (docs/protocol.md). */
export const CloseCode = {
  /** The producer said hello on another connection. */
  FENCED: 4001,
  /** A subscriber fell too far behind, or its updates may have been lost. */
  LAGGING: 4002,
  /** The connection's token expired (a JWT's `exp`) before an `auth` replaced it. */
  TOKEN_EXPIRED: 4003,
  /** The connection's token was removed from HUNT_AUTH_FILE by a reload. */
  TOKEN_REVOKED: 4004,
} as const;

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

/** Replaces the connection's token (and so its permissions and expiry) without reconnecting. */
export interface AuthMessage {
  op: 'auth';
  id: number;
  token: string;
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
  | { op: 'ack'; id: number; dup?: true; recovered?: boolean; seq?: number; host?: string; hosts?: string[] }
  | { op: 'error'; id: number | null; code: ErrorCode; message: string; index?: number; owner?: string; next?: number }
  | { op: 'moved'; keys: string[]; prefixes: string[]; owner: string }
  | { op: 'meta'; id: number; key: string; meta: MetaRecord | null }
  | { op: 'update'; key: string; meta: MetaRecord }
  | { op: 'lagging'; message: string }
  | { op: 'events'; id: number; partition: number; events: ReplayedEvent[]; next: number | null }
  | { op: 'missed'; key: string; events: ReplayedEvent[] };

/** An event of the log as clients receive it. */
export interface ReplayedEvent {
  offset: number;
  key: string;
  type: string;
  ts: number;
  /** The key's record version this event produced. */
  version: number;
  /** The event's data (default merge). */
  data?: unknown;
  /** The update a route resolved for this key (`fanOut`: the key was derived, not the event's own). */
  update?: unknown;
  fanOut?: boolean;
  /** Present (above 1) when a fan-out entry folds the updates of that many events of one pub. */
  updates?: number;
}

/** A message refused with an error the client is told (code, and the request id and event index it concerns). */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly id: number | null = null,
    readonly index?: number,
    /** NOT_OWNER: the base URL of the host that applies the partition (none while no host does). */
    readonly owner?: string,
  ) {
    super(message);
  }
}
