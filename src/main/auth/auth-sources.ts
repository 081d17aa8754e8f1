// The control thread's side of credentials: reads HUNT_AUTH_FILE and the JWT key files and checks
// them (at start-up, where a problem stops the engine, and on SIGHUP, where it keeps the previous
// credentials), so that acceptors only ever build an Authenticator from checked text.
import fs from 'node:fs';
import type { EngineConfig } from '../../shared/config.js';
import type { AuthSources } from './authenticator.js';
import { jwksProblem, MIN_SECRET_BYTES } from './jwt.js';
import { parseTokenFile, readTokenFile, TokenFileError } from './token-file.js';

export class AuthSourcesError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'AuthSourcesError';
  }
}

type AuthSettings = Pick<EngineConfig, 'authTokens' | 'authFile' | 'jwtSecretFile' | 'jwtJwksFile' | 'jwtAudience' | 'jwtIssuer'>;

/** Credentials are read from files (HUNT_AUTH_FILE, a JWT key file), so SIGHUP re-reads them. */
export const hasCredentialFiles = (config: AuthSettings): boolean => config.authFile !== undefined || config.jwtSecretFile !== undefined || config.jwtJwksFile !== undefined;

/** Some credential is configured: the engine is not open. */
export const hasCredentials = (config: AuthSettings): boolean => config.authTokens.length > 0 || hasCredentialFiles(config);

/** Reads and checks the credentials' files; throws AuthSourcesError naming each variable and problem. */
export function readAuthSources(config: AuthSettings): AuthSources {
  const problems: string[] = [];
  const invalid = (name: string, value: string, why: string) => problems.push(`${name}=${JSON.stringify(value)} is invalid: ${why}`);
  let file: AuthSources['file'] = null;
  if (config.authFile !== undefined) {
    try {
      const text = readTokenFile(config.authFile);
      parseTokenFile(config.authFile, text);
      file = { path: config.authFile, text };
    } catch (error) {
      if (!(error instanceof TokenFileError)) throw error;
      for (const p of error.problems) invalid('HUNT_AUTH_FILE', config.authFile, p.line > 0 ? `line ${p.line}: ${p.message}` : p.message);
    }
  }
  let secret: Uint8Array | null = null;
  if (config.jwtSecretFile !== undefined) {
    const bytes = readFile(config.jwtSecretFile, (why) => invalid('HUNT_JWT_SECRET_FILE', config.jwtSecretFile!, why));
    if (bytes !== null) {
      // A secret written with `echo` ends in a newline that is not part of it.
      secret = trimTrailingNewlines(bytes);
      if (secret.length < MIN_SECRET_BYTES) invalid('HUNT_JWT_SECRET_FILE', config.jwtSecretFile, `the secret is ${secret.length} bytes; allowed is at least ${MIN_SECRET_BYTES}`);
    }
  }
  let jwksText: string | null = null;
  if (config.jwtJwksFile !== undefined) {
    const bytes = readFile(config.jwtJwksFile, (why) => invalid('HUNT_JWT_JWKS_FILE', config.jwtJwksFile!, why));
    if (bytes !== null) {
      jwksText = bytes.toString('utf8');
      const problem = jwksProblem(jwksText);
      if (problem !== null) invalid('HUNT_JWT_JWKS_FILE', config.jwtJwksFile, problem);
    }
  }
  const jwtConfigured = config.jwtSecretFile !== undefined || config.jwtJwksFile !== undefined;
  if (!jwtConfigured) {
    if (config.jwtAudience !== undefined) invalid('HUNT_JWT_AUDIENCE', config.jwtAudience, 'it applies to JWTs: set HUNT_JWT_SECRET_FILE or HUNT_JWT_JWKS_FILE too');
    if (config.jwtIssuer !== undefined) invalid('HUNT_JWT_ISSUER', config.jwtIssuer, 'it applies to JWTs: set HUNT_JWT_SECRET_FILE or HUNT_JWT_JWKS_FILE too');
  }
  if (problems.length > 0) throw new AuthSourcesError(problems);
  return {
    tokens: config.authTokens,
    file,
    jwt: jwtConfigured ? { secret, jwksText, audience: config.jwtAudience, issuer: config.jwtIssuer } : null,
  };
}

function readFile(file: string, problem: (why: string) => void): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    problem(`cannot be read: ${(error as Error).message}`);
    return null;
  }
}

function trimTrailingNewlines(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}
