// HUNT_AUTH_FILE: static tokens with scopes, one JSON object per line (blank lines and lines
// starting with # are skipped), read at start-up and on SIGHUP:
//
//   {"name": "game-server", "token": "…at least 16 characters…", "pub": ["player:", "hunt:"], "read": [""]}
//   {"name": "dashboard", "sha256": "<hex SHA-256 of the token>", "admin": true}
//
// JSON lines rather than one document so that every problem names its line, and prefixes may hold
// any character a key may. `sha256` keeps the token itself out of the file.
import fs from 'node:fs';
import { LMDB_MAX_KEY_BYTES } from '../../shared/config.js';
import { KeyScope, type Permissions } from './permissions.js';
import { tokenDigest } from './token-digest.js';

export interface FileToken {
  /** SHA-256 of the token. */
  digest: Buffer;
  /** For logs: the token itself is never logged. */
  name: string;
  permissions: Permissions;
}

export interface TokenFileProblem {
  line: number;
  message: string;
}

export class TokenFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: TokenFileProblem[],
  ) {
    super(`${file}: ${problems.map((p) => (p.line > 0 ? `line ${p.line}: ${p.message}` : p.message)).join('; ')}`);
    this.name = 'TokenFileError';
  }
}

/** As HUNT_AUTH_TOKENS requires. */
const MIN_TOKEN_CHARS = 16;
const FIELDS = new Set(['name', 'token', 'sha256', 'pub', 'read', 'admin']);

/** The text of the file; throws TokenFileError if it cannot be read. */
export function readTokenFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new TokenFileError(file, [{ line: 0, message: `cannot be read: ${(error as Error).message}` }]);
  }
}

/** The tokens of the file's text; throws TokenFileError listing every problem. */
export function parseTokenFile(file: string, text: string): FileToken[] {
  const problems: TokenFileProblem[] = [];
  const tokens: FileToken[] = [];
  const lineOfDigest = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const problem = (message: string) => problems.push({ line, message });
    let entry: unknown;
    try {
      entry = JSON.parse(trimmed);
    } catch (error) {
      return problem(`is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return problem('must be a JSON object');
    const fields = entry as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((name) => !FIELDS.has(name));
    if (unknown.length > 0) return problem(`has unknown field ${unknown.map((n) => JSON.stringify(n)).join(', ')}; allowed are ${[...FIELDS].join(', ')}`);
    const digest = digestOf(fields, problem);
    const pub = prefixesOf(fields, 'pub', problem);
    const read = prefixesOf(fields, 'read', problem);
    if (fields.admin !== undefined && typeof fields.admin !== 'boolean') return problem('"admin" must be true or false');
    if (fields.name !== undefined && (typeof fields.name !== 'string' || fields.name.length === 0 || fields.name.length > 100)) {
      return problem('"name" must be a string of 1 to 100 characters');
    }
    if (digest === null || pub === null || read === null) return;
    const admin = fields.admin === true;
    if (pub.none && read.none && !admin) return problem('grants nothing: give it "pub", "read" or "admin"');
    const hex = digest.toString('hex');
    const earlier = lineOfDigest.get(hex);
    if (earlier !== undefined) return problem(`repeats the token of line ${earlier}`);
    lineOfDigest.set(hex, line);
    tokens.push({ digest, name: (fields.name as string | undefined) ?? `line ${line}`, permissions: { pub, read, admin, expiresAtMs: Infinity } });
  });
  if (problems.length > 0) throw new TokenFileError(file, problems);
  return tokens;
}

export function loadTokenFile(file: string): FileToken[] {
  return parseTokenFile(file, readTokenFile(file));
}

function digestOf(fields: Record<string, unknown>, problem: (message: string) => void): Buffer | null {
  const { token, sha256 } = fields;
  if ((token === undefined) === (sha256 === undefined)) {
    problem('needs exactly one of "token" and "sha256"');
    return null;
  }
  if (token !== undefined) {
    if (typeof token !== 'string' || token.length < MIN_TOKEN_CHARS || token !== token.trim() || token.includes(',')) {
      problem(`"token" must be a string of at least ${MIN_TOKEN_CHARS} characters, without surrounding spaces or commas`);
      return null;
    }
    return tokenDigest(token);
  }
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) {
    problem('"sha256" must be 64 hexadecimal digits (the SHA-256 of the token)');
    return null;
  }
  return Buffer.from(sha256, 'hex');
}

/** The scope of a "pub" or "read" field (absent: no key). */
function prefixesOf(fields: Record<string, unknown>, name: 'pub' | 'read', problem: (message: string) => void): KeyScope | null {
  const value = fields[name];
  if (value === undefined) return KeyScope.NO_KEY;
  const problems = scopeProblems(value);
  if (problems !== null) {
    problem(`"${name}" ${problems}`);
    return null;
  }
  return KeyScope.of(value as string[]);
}

/**
 * Why `value` is not a list of key prefixes (null: it is one). Shared by the token file and the
 * JWT claims.
 */
export function scopeProblems(value: unknown): string | null {
  if (!Array.isArray(value)) return 'must be a list of key prefixes ("" for every key)';
  for (const prefix of value) {
    if (typeof prefix !== 'string') return 'must hold only strings';
    if (prefix.includes('\u0000') || !prefix.isWellFormed() || Buffer.byteLength(prefix) > LMDB_MAX_KEY_BYTES) {
      return `has prefix ${JSON.stringify(prefix)}: prefixes are valid Unicode without NUL, at most ${LMDB_MAX_KEY_BYTES} bytes`;
    }
  }
  return null;
}
