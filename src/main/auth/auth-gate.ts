// An acceptor's credentials and what its connections were granted: the upgrade and the `auth` op
// grant a connection its permissions, a JWT's expiry closes it (4003) unless an `auth` replaced
// the token first, and a reload re-checks every connection that came with a static token.
import type { Logger } from '../../shared/logger.js';
import { CloseCode } from '../../shared/wire.js';
import type { Connection } from '../connections/connection.js';
import { Authenticator, type AuthOutcome, type AuthSources } from './authenticator.js';

/** setTimeout's longest delay; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type GrantedOutcome = Extract<AuthOutcome, { ok: true }>;

export class AuthGate {
  private authenticator: Authenticator;

  constructor(
    sources: AuthSources,
    private readonly log: Logger,
  ) {
    this.authenticator = new Authenticator(sources);
  }

  get enabled(): boolean {
    return this.authenticator.enabled;
  }

  check(token: string): AuthOutcome | Promise<AuthOutcome> {
    return this.authenticator.check(token);
  }

  /** Gives `conn` what `outcome` grants, replacing what it had. */
  grant(conn: Connection, outcome: GrantedOutcome): void {
    conn.permissions = outcome.permissions;
    conn.credential = outcome.credential;
    this.release(conn);
    this.watchExpiry(conn);
  }

  /** Stops watching `conn`'s expiry (it closed, or is granted anew). */
  release(conn: Connection): void {
    if (conn.expiryTimer !== null) clearTimeout(conn.expiryTimer);
    conn.expiryTimer = null;
  }

  /**
   * Switches to the credentials of `sources` (checked by control). Connections that came with a
   * static token get its new scopes, or are closed with 4004 if it is gone; connections with a JWT
   * keep what it granted until it expires.
   */
  reload(sources: AuthSources, connections: Iterable<Connection>): void {
    this.authenticator = new Authenticator(sources);
    let revoked = 0;
    for (const conn of connections) {
      if (conn.credential.kind !== 'token') continue;
      const permissions = this.authenticator.permissionsOf(conn.credential.digest);
      if (permissions === null) {
        revoked++;
        conn.close(CloseCode.TOKEN_REVOKED, 'token revoked: it is no longer in HUNT_AUTH_FILE');
      } else conn.permissions = permissions;
    }
    if (revoked > 0) this.log.info({ connections: revoked }, 'connections closed: their tokens were removed');
  }

  private watchExpiry(conn: Connection): void {
    const left = conn.permissions.expiresAtMs - Date.now();
    if (left === Infinity) return;
    if (left <= 0) {
      conn.close(CloseCode.TOKEN_EXPIRED, 'token expired: send auth with a new token before exp');
      return;
    }
    conn.expiryTimer = setTimeout(() => {
      conn.expiryTimer = null;
      this.watchExpiry(conn);
    }, Math.min(left, MAX_TIMER_MS));
    conn.expiryTimer.unref();
  }
}
