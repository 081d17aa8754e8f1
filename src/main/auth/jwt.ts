// JSON Web Tokens for browsers and game clients (docs/operations.md, "Tokens and scopes"), verified
// by `jose`: signed with the HMAC secret of HUNT_JWT_SECRET_FILE (HS256/384/512) or a public key of
// the key set in HUNT_JWT_JWKS_FILE (RS, PS, ES, EdDSA). The scopes are the `hunt` claim:
//
//   {"sub": "ann", "exp": 1767225600, "hunt": {"read": ["player:ann"], "pub": [], "admin": false}}
//
// `exp` is required (a browser's token must end), `nbf` and `iat` are honoured, `aud` and `iss`
// checked when configured. Unsigned tokens (`alg: none`) are refused: only the algorithms of the
// configured keys are accepted.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { KeyScope, type Permissions } from './permissions.js';
import { scopeProblems } from './token-file.js';

export interface JwtKeys {
  /** HMAC secret (HUNT_JWT_SECRET_FILE), null when not configured. */
  secret: Uint8Array | null;
  /** Public keys (HUNT_JWT_JWKS_FILE), as the file's JSON text; null when not configured. */
  jwksText: string | null;
  audience: string | undefined;
  issuer: string | undefined;
}

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const PUBLIC_KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const SCOPE_FIELDS = new Set(['pub', 'read', 'admin']);
/** Shorter HMAC secrets can be brute-forced from one token (RFC 7518 asks for the hash's size). */
export const MIN_SECRET_BYTES = 32;

/** Why a key set's text is unusable (null: it is a JSON Web Key Set). */
export function jwksProblem(text: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `is not valid JSON: ${(error as Error).message}`;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'must be a JSON Web Key Set: {"keys": [ … ]} with at least one key';
  for (const key of keys) {
    if (typeof key !== 'object' || key === null || typeof (key as { kty?: unknown }).kty !== 'string') return 'has a key without "kty"';
    if ('d' in key) return 'holds a private key ("d"): give the engine the public keys only';
  }
  return null;
}

export class JwtRefused extends Error {}

export class JwtVerifier {
  private readonly getKey: JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(private readonly keys: JwtKeys) {
    const jwks = keys.jwksText === null ? null : createLocalJWKSet(JSON.parse(keys.jwksText) as JSONWebKeySet);
    this.algorithms = [...(keys.secret === null ? [] : HMAC_ALGORITHMS), ...(jwks === null ? [] : PUBLIC_KEY_ALGORITHMS)];
    this.getKey = (header, token) => {
      if (header.alg.startsWith('HS')) return keys.secret!;
      return jwks!(header, token);
    };
  }

  /** The permissions a token grants; throws JwtRefused (the reason, never the token) otherwise. */
  async verify(token: string): Promise<Permissions> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.algorithms,
        audience: this.keys.audience,
        issuer: this.keys.issuer,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw new JwtRefused(`JWT refused: ${(error as Error).message}`);
    }
    return { ...scopesOf(payload.hunt), expiresAtMs: (payload.exp as number) * 1000 };
  }
}

/** Looks like a JWT (three base64url parts), as opposed to a static token. */
export function isJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

function scopesOf(claim: unknown): Omit<Permissions, 'expiresAtMs'> {
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) throw new JwtRefused('JWT refused: no "hunt" claim with its scopes');
  const fields = claim as Record<string, unknown>;
  for (const name of Object.keys(fields)) if (!SCOPE_FIELDS.has(name)) throw new JwtRefused(`JWT refused: the "hunt" claim has unknown field ${JSON.stringify(name)}`);
  const scope = (name: 'pub' | 'read'): KeyScope => {
    const value = fields[name];
    if (value === undefined) return KeyScope.NO_KEY;
    const problem = scopeProblems(value);
    if (problem !== null) throw new JwtRefused(`JWT refused: "hunt.${name}" ${problem}`);
    return KeyScope.of(value as string[]);
  };
  if (fields.admin !== undefined && typeof fields.admin !== 'boolean') throw new JwtRefused('JWT refused: "hunt.admin" must be true or false');
  return { pub: scope('pub'), read: scope('read'), admin: fields.admin === true };
}
