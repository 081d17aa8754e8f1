// The client's side of the wire protocol's framing: one message per frame, MessagePack (standard,
// no msgpackr records) in a binary frame or JSON in a text frame. The engine writes integers as
// MessagePack integers of any width; they decode to numbers (the engine keeps them within 2^53).
import { msgpack } from '../shared/msgpack.js';

export type WireEncoding = 'msgpack' | 'json';

/** A message as the frame to send (a string is a text frame, bytes a binary frame). */
export function encodeClientMessage(message: Record<string, unknown>, encoding: WireEncoding): string | Uint8Array {
  return encoding === 'json' ? JSON.stringify(message) : msgpack.pack(message);
}

/** A server message from a received frame's data; null for data of another kind. */
export function decodeServerMessage(data: unknown): Record<string, any> | null {
  if (typeof data === 'string') return JSON.parse(data) as Record<string, any>;
  if (data instanceof ArrayBuffer) return msgpack.unpack(new Uint8Array(data)) as Record<string, any>;
  if (data instanceof Uint8Array) return msgpack.unpack(data) as Record<string, any>;
  return null;
}
