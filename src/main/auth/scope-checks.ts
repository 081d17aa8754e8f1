// The checks of a WebSocket op against its connection's permissions: a refusal is a FORBIDDEN
// error naming the op and the key, thrown before anything is applied (the connection stays open).
import { ErrorCode, ProtocolError } from '../../shared/wire.js';
import type { Permissions } from './permissions.js';

/** The words of a refusal, over WebSocket and HTTP alike. */
export function forbiddenMessage(op: string, key: string | null, scope: 'pub' | 'read' | 'admin'): string {
  if (scope === 'admin') return `${op}: this token lacks the admin scope`;
  const what = key === null ? op : `${op} of ${JSON.stringify(key)}`;
  return `${what}: this token lacks the ${scope} scope for ${key === null ? 'every key' : 'that key'}`;
}

export function forbidden(op: string, key: string | null, scope: 'pub' | 'read', id: number | null, index?: number): ProtocolError {
  return new ProtocolError(ErrorCode.FORBIDDEN, forbiddenMessage(op, key, scope), id, index);
}

/** `get`, `sub` of keys, a replay of one key's events. */
export function requireRead(permissions: Permissions, op: string, key: string, id: number | null): void {
  if (!permissions.read.allows(key)) throw forbidden(op, key, 'read', id);
}

/** `sub` of a prefix: every key it could match must be readable. */
export function requireReadPrefix(permissions: Permissions, op: string, prefix: string, id: number | null): void {
  if (!permissions.read.covers(prefix)) throw forbidden(`${op} of prefix`, prefix, 'read', id);
}

/** A partition's replay holds any key's events. */
export function requireReadAll(permissions: Permissions, op: string, id: number | null): void {
  if (!permissions.read.all) throw forbidden(op, null, 'read', id);
}

/** `hello` claims a producer name: a token that cannot publish must not fence a producer off. */
export function requireSomePub(permissions: Permissions, id: number | null): void {
  if (permissions.pub.none) throw new ProtocolError(ErrorCode.FORBIDDEN, 'hello: this token has no pub scope, so it cannot speak for a producer', id);
}
