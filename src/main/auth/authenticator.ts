// Who a client is, from the token it presents: a HUNT_AUTH_TOKENS token (everything), a token of
// HUNT_AUTH_FILE (its scopes), or a JWT (the scopes of its claims). The control thread reads the
// files (AuthSources) at start-up and on SIGHUP and hands their text to every acceptor, which
// builds its Authenticator from it, as with routes.
import { EVERYTHING, type Permissions } from './permissions.js';
import { isJwt, JwtRefused, JwtVerifier, type JwtKeys } from './jwt.js';
import { parseTokenFile, type FileToken } from './token-file.js';
import { matchDigest, tokenDigest } from './token-digest.js';

/** The credentials' settings and file contents, as the control thread read and checked them. */
export interface AuthSources {
  /** HUNT_AUTH_TOKENS. */
  tokens: string[];
  /** HUNT_AUTH_FILE and its text. */
  file: { path: string; text: string } | null;
  jwt: JwtKeys | null;
}

/** How a connection proved who it is: kept so that a reload can re-check it. */
export type Credential = { kind: 'none' } | { kind: 'token'; digest: Buffer } | { kind: 'jwt' };

export type AuthOutcome = { ok: true; permissions: Permissions; credential: Credential } | { ok: false; reason: string };

const NO_CREDENTIAL: AuthOutcome = { ok: true, permissions: EVERYTHING, credential: { kind: 'none' } };

export class Authenticator {
  /** Digests of HUNT_AUTH_TOKENS then of the file's tokens; permissions alike by index. */
  private readonly digests: Buffer[];
  private readonly permissions: Permissions[];
  private readonly jwt: JwtVerifier | null;
  /** Whether any credential is configured; if not, every client may do everything but admin changes. */
  readonly enabled: boolean;

  constructor(sources: AuthSources) {
    const fileTokens: FileToken[] = sources.file === null ? [] : parseTokenFile(sources.file.path, sources.file.text);
    this.digests = [...sources.tokens.map(tokenDigest), ...fileTokens.map((t) => t.digest)];
    this.permissions = [...sources.tokens.map(() => EVERYTHING), ...fileTokens.map((t) => t.permissions)];
    this.jwt = sources.jwt === null ? null : new JwtVerifier(sources.jwt);
    this.enabled = sources.tokens.length > 0 || sources.file !== null || sources.jwt !== null;
  }

  /** The token a request presents: the Authorization header's bearer token, else the `token` query parameter. */
  static presented(authorization: string, queryToken: string): string {
    return authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : queryToken;
  }

  /** What `token` may do; synchronous unless it is a JWT to verify. */
  check(token: string): AuthOutcome | Promise<AuthOutcome> {
    if (!this.enabled) return NO_CREDENTIAL;
    if (token === '') return { ok: false, reason: 'no token' };
    if (this.jwt !== null && isJwt(token)) {
      return this.jwt.verify(token).then(
        (permissions): AuthOutcome => ({ ok: true, permissions, credential: { kind: 'jwt' } }),
        (error: Error): AuthOutcome => {
          if (error instanceof JwtRefused) return { ok: false, reason: error.message };
          throw error;
        },
      );
    }
    const digest = tokenDigest(token);
    const permissions = this.permissionsOf(digest);
    return permissions === null ? { ok: false, reason: 'unknown token' } : { ok: true, permissions, credential: { kind: 'token', digest } };
  }

  /** The permissions of a static token by its digest (null: not known, e.g. removed by a reload). */
  permissionsOf(digest: Buffer): Permissions | null {
    const i = matchDigest(this.digests, digest);
    return i < 0 ? null : this.permissions[i]!;
  }
}
