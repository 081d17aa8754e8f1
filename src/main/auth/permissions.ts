// What a credential may do (docs/operations.md, "Tokens and scopes"): publish events under some key
// prefixes, read keys under some prefixes, use the admin endpoints. A connection holds its
// Permissions from the upgrade (or its last `auth`) and every op is checked against them.

/** A set of keys given by prefixes; the empty prefix (every key) makes `all` true. */
export class KeyScope {
  readonly all: boolean;
  /**
   * The prefixes as UTF-8, back to back (prefix i is packed[starts[i], starts[i + 1])), for
   * checking keys in a frame's bytes without decoding them or walking an array of buffers.
   */
  private readonly packed: Uint8Array;
  private readonly starts: Int32Array;

  private constructor(readonly prefixes: readonly string[]) {
    this.all = prefixes.includes('');
    const encoded = this.all ? [] : prefixes.map((prefix) => Buffer.from(prefix, 'utf8'));
    this.packed = Buffer.concat(encoded);
    this.starts = new Int32Array(encoded.length + 1);
    encoded.forEach((bytes, i) => (this.starts[i + 1] = this.starts[i]! + bytes.length));
  }

  static readonly EVERY_KEY = new KeyScope(['']);
  static readonly NO_KEY = new KeyScope([]);

  static of(prefixes: readonly string[]): KeyScope {
    if (prefixes.length === 0) return KeyScope.NO_KEY;
    return prefixes.includes('') ? KeyScope.EVERY_KEY : new KeyScope([...new Set(prefixes)]);
  }

  get none(): boolean {
    return this.prefixes.length === 0;
  }

  allows(key: string): boolean {
    if (this.all) return true;
    for (const prefix of this.prefixes) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** allows() for the key whose UTF-8 is buf[start, end). */
  allowsBytes(buf: Uint8Array, start: number, end: number): boolean {
    if (this.all) return true;
    const { packed, starts } = this;
    const length = end - start;
    for (let p = 0; p + 1 < starts.length; p++) {
      const from = starts[p]!;
      const size = starts[p + 1]! - from;
      if (size > length) continue;
      let i = 0;
      while (i < size && buf[start + i] === packed[from + i]) i++;
      if (i === size) return true;
    }
    return false;
  }

  /** Every key that starts with `prefix` is in this scope. */
  covers(prefix: string): boolean {
    return this.allows(prefix);
  }
}

export interface Permissions {
  pub: KeyScope;
  read: KeyScope;
  /** GET /metrics, /v1/stats, /v1/partitions and POST /v1/admin/reload-routes. */
  admin: boolean;
  /** When the credential stops being valid (a JWT's `exp`), in ms since the epoch; Infinity: never. */
  expiresAtMs: number;
}

/** A HUNT_AUTH_TOKENS token, and every client when no credential is configured. */
export const EVERYTHING: Permissions = Object.freeze({ pub: KeyScope.EVERY_KEY, read: KeyScope.EVERY_KEY, admin: true, expiresAtMs: Infinity });
