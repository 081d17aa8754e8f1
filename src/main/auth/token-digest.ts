// Tokens are known and compared as SHA-256 digests: the engine keeps no token in memory longer than
// one check, and comparing fixed-size digests with timingSafeEqual, against every known one,
// reveals through timing neither a token nor which one matched.
import { createHash, timingSafeEqual } from 'node:crypto';

export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The index in `digests` of the one equal to `candidate` (-1: none), in time independent of which. */
export function matchDigest(digests: readonly Buffer[], candidate: Buffer): number {
  let found = -1;
  for (let i = 0; i < digests.length; i++) if (timingSafeEqual(digests[i]!, candidate)) found = i;
  return found;
}
