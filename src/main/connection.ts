// A client WebSocket as the protocol layer sees it (the uWS socket stays in server.ts).
import type { Encoding, ServerMessage } from './protocol.js';

export interface Connection {
  readonly id: number;
  /** Encoding of messages the server starts (welcome), from the negotiated subprotocol. */
  readonly encoding: Encoding;
  /** Pubs taken and not yet acknowledged or failed. */
  inFlight: number;
  closed: boolean;
  /** Sends a message; `corked` is false when called outside a uWS callback (from a worker report). */
  send(message: ServerMessage, encoding: Encoding, corked: boolean): void;
}
