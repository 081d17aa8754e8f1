// A client WebSocket as the protocol layer sees it (the uWS socket stays in server.ts).
import type { Producer } from '../ingest/producers.js';
import { type Encoding, type ServerMessage } from '../../shared/wire.js';
import type { Permissions } from '../auth/permissions.js';
import type { Credential } from '../auth/authenticator.js';

export interface Connection {
  readonly id: number;
  /** Encoding of messages the server starts (welcome), from the negotiated subprotocol. */
  readonly encoding: Encoding;
  /** Pubs taken and not yet acknowledged or failed. */
  inFlight: number;
  closed: boolean;
  /** Frames handled so far (a hello must be the first). */
  frames: number;
  /** What its token allows (auth/auth-gate.ts grants it at the upgrade and on `auth`). */
  permissions: Permissions;
  credential: Credential;
  /** Closes the connection when its token expires (null: it does not, or it is closed). */
  expiryTimer: ReturnType<typeof setTimeout> | null;
  /** The idempotent producer this connection speaks for, after its hello. */
  producer: Producer | null;
  /** Highest seq taken on this connection (seqs must increase within a connection). */
  lastSeq: number;
  /** Pubs refused because the in-flight window was full, less maxInFlight for each pub taken since (at least 0). */
  floodRefusals: number;
  /** Frames that arrived while its hello (the producer's claim) or an `auth` (a JWT's check) was answered, handled after it (null: none waiting). */
  waitingFrames: { frame: ArrayBuffer; isBinary: boolean }[] | null;
  /** Sends a message; `corked` is false when called outside a uWS callback (from a worker report). */
  send(message: ServerMessage, encoding: Encoding, corked: boolean): void;
  /** Sends a message already encoded for `encoding` (one encoding shared by many receivers). */
  sendEncoded(payload: string | Buffer, encoding: Encoding): void;
  /** Bytes queued for this connection and not yet sent. */
  bufferedBytes(): number;
  /** Runs `send`s made outside a uWS callback as one write. */
  cork(sends: () => void): void;
  /** Closes the connection with a WebSocket close code. */
  close(code: number, reason: string): void;
}
