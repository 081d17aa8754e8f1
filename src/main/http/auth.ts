// Bearer-token check for HUNT_AUTH_TOKENS. Tokens are compared as SHA-256 digests with
// timingSafeEqual, against every configured token, so timing reveals neither a token nor which
// one matched.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (token: string) => createHash('sha256').update(token).digest();

export class TokenCheck {
  private readonly digests: Buffer[];

  constructor(tokens: string[]) {
    this.digests = tokens.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** `authorization` is the Authorization header; `queryToken` the `token` query parameter. */
  allows(authorization: string, queryToken: string): boolean {
    if (!this.enabled) return true;
    const presented = authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : queryToken;
    if (presented === '') return false;
    const candidate = digest(presented);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, candidate) || ok;
    return ok;
  }
}
