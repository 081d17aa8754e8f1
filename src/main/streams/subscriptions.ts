// Live subscriptions: connections subscribe to exact keys and to key prefixes, and get an `update`
// with the key's new metadata record after each commit that changed it, in commit order per key.
//
// Zero cost when nobody listens: workers produce change notices only for keys whose bucket (the
// key's hash, the same FNV-1a as for partitioning, masked) is flagged in the shared `interest`
// array, or for every key while any prefix is subscribed (the ALL slot). A worker reads the flags
// after its commit and the front end reads a key's snapshot after setting the flag, so an
// exact-key subscriber gets every change after its snapshot (possibly one twice: `version` tells).
//
// Slow subscribers: a connection with more than `maxLagBytes` of unsent messages when an update is
// due gets `{"op":"lagging"}` and is closed (4002); it reconnects and subscribes again, getting a
// fresh snapshot. The same happens to every subscriber when a partition worker is restarted (the
// notices of the batch it died in are gone). A subscriber never silently misses updates while
// believing it is current.
//
// Cluster mode: when a key's partition goes to another host, its subscriptions here end with a
// `moved` message naming that host (the changes are applied, and announced, there now); prefix
// subscriptions stay (the prefix's other partitions are still here), and the message names them
// too, for the subscriber to subscribe the prefix at that host as well.
import { fnv1a32Utf8 } from '../../shared/partition.js';
import type { MetaRecord } from '../../shared/metadata.js';
import { INTEREST_ALL, INTEREST_BUCKETS } from '../../shared/interest.js';
import type { Connection } from '../connections/connection.js';
import { encodeMessage } from '../connections/protocol.js';
import { CloseCode, type Encoding } from '../../shared/wire.js';


export interface SubscriptionLimits {
  /** Keys and prefixes one connection may hold. */
  maxPerConnection: number;
  /** Unsent bytes past which a subscriber is dropped as lagging. */
  maxLagBytes: number;
}

export class SubscriptionRegistry {
  private readonly exact = new Map<string, Set<Connection>>();
  private readonly prefixes = new Map<string, Set<Connection>>();
  /** Distinct prefix lengths in use, so a key is matched with one lookup per length. */
  private readonly prefixLengths = new Map<number, number>();
  /** Subscribed exact keys per bucket. */
  private readonly exactPerBucket = new Uint32Array(INTEREST_BUCKETS);
  private readonly interest: Uint8Array;
  private readonly byConnection = new Map<Connection, { keys: Set<string>; prefixes: Set<string> }>();
  /** Updates sent so far (for metrics). */
  updatesSent = 0;

  /** Connections holding at least one subscription. */
  get subscribers(): number {
    return this.byConnection.size;
  }

  constructor(
    interest: SharedArrayBuffer,
    private readonly limits: SubscriptionLimits,
  ) {
    this.interest = new Uint8Array(interest);
  }

  /** Subscribes; returns false (changing nothing) if the connection would exceed its limit. */
  subscribe(conn: Connection, keys: string[], prefixes: string[]): boolean {
    let own = this.byConnection.get(conn);
    const held = own === undefined ? 0 : own.keys.size + own.prefixes.size;
    if (held + keys.length + prefixes.length > this.limits.maxPerConnection) return false;
    if (own === undefined) this.byConnection.set(conn, (own = { keys: new Set(), prefixes: new Set() }));
    for (const key of keys) {
      if (own.keys.has(key)) continue;
      own.keys.add(key);
      this.addTo(this.exact, key, conn);
      const bucket = fnv1a32Utf8(key) & (INTEREST_BUCKETS - 1);
      if (this.exactPerBucket[bucket]!++ === 0) Atomics.store(this.interest, bucket, 1);
    }
    for (const prefix of prefixes) {
      if (own.prefixes.has(prefix)) continue;
      own.prefixes.add(prefix);
      this.addTo(this.prefixes, prefix, conn);
      this.prefixLengths.set(prefix.length, (this.prefixLengths.get(prefix.length) ?? 0) + 1);
      Atomics.store(this.interest, INTEREST_ALL, 1);
    }
    return true;
  }

  unsubscribe(conn: Connection, keys: string[], prefixes: string[]): void {
    const own = this.byConnection.get(conn);
    if (own === undefined) return;
    for (const key of keys) {
      if (!own.keys.delete(key)) continue;
      this.removeFrom(this.exact, key, conn);
      const bucket = fnv1a32Utf8(key) & (INTEREST_BUCKETS - 1);
      if (--this.exactPerBucket[bucket]! === 0) Atomics.store(this.interest, bucket, 0);
    }
    for (const prefix of prefixes) {
      if (!own.prefixes.delete(prefix)) continue;
      this.removeFrom(this.prefixes, prefix, conn);
      const left = this.prefixLengths.get(prefix.length)! - 1;
      if (left === 0) this.prefixLengths.delete(prefix.length);
      else this.prefixLengths.set(prefix.length, left);
      if (this.prefixLengths.size === 0) Atomics.store(this.interest, INTEREST_ALL, 0);
    }
    if (own.keys.size === 0 && own.prefixes.size === 0) this.byConnection.delete(conn);
  }

  /** Drops every subscription of a connection (it closed). */
  removeConnection(conn: Connection): void {
    const own = this.byConnection.get(conn);
    if (own !== undefined) this.unsubscribe(conn, [...own.keys], [...own.prefixes]);
  }

  /** Delivers a committed change of `key` to its subscribers. */
  deliver(key: string, meta: () => MetaRecord): void {
    let record: MetaRecord | null = null;
    const encoded: Partial<Record<Encoding, string | Buffer>> = {};
    const send = (conn: Connection) => {
      if (conn.closed) return;
      if (conn.bufferedBytes() > this.limits.maxLagBytes) return this.dropLagging(conn);
      record ??= meta();
      const payload = (encoded[conn.encoding] ??= encodeMessage({ op: 'update', key, meta: record }, conn.encoding));
      conn.sendEncoded(payload, conn.encoding);
      this.updatesSent++;
    };
    const exact = this.exact.get(key);
    if (this.prefixLengths.size === 0) {
      if (exact !== undefined) for (const conn of exact) send(conn);
      return;
    }
    // With prefixes, one connection may match several ways: it gets the update once.
    const recipients = new Set<Connection>(exact);
    for (const length of this.prefixLengths.keys()) {
      if (length > key.length) continue;
      const subscribers = this.prefixes.get(key.slice(0, length));
      if (subscribers !== undefined) for (const conn of subscribers) recipients.add(conn);
    }
    for (const conn of recipients) send(conn);
  }

  /**
   * Partitions left this host for `owners`: ends the key subscriptions whose key `movedTo` gives a
   * host for, and tells each connection, per host, its keys that went there and its prefixes.
   */
  partitionsMoved(movedTo: (key: string) => string | undefined, owners: string[]): void {
    for (const [conn, own] of [...this.byConnection]) {
      const byOwner = new Map<string, string[]>();
      for (const key of own.keys) {
        const owner = movedTo(key);
        if (owner === undefined) continue;
        let keys = byOwner.get(owner);
        if (keys === undefined) byOwner.set(owner, (keys = []));
        keys.push(key);
      }
      const prefixes = [...own.prefixes];
      for (const owner of owners) {
        const keys = byOwner.get(owner) ?? [];
        if (keys.length === 0 && prefixes.length === 0) continue;
        this.unsubscribe(conn, keys, []);
        if (!conn.closed) conn.send({ op: 'moved', keys, prefixes, owner }, conn.encoding, false);
      }
    }
  }

  /** Tells every subscriber it may have missed updates, and drops it (see dropLagging). */
  dropAll(reason: string): void {
    for (const conn of [...this.byConnection.keys()]) this.dropLagging(conn, reason);
  }

  private dropLagging(conn: Connection, message = 'this connection fell too far behind its updates; reconnect and subscribe again'): void {
    conn.send({ op: 'lagging', message }, conn.encoding, false);
    this.removeConnection(conn);
    conn.close(CloseCode.LAGGING, 'lagging: updates not read');
  }

  private addTo(map: Map<string, Set<Connection>>, name: string, conn: Connection): void {
    let set = map.get(name);
    if (set === undefined) map.set(name, (set = new Set()));
    set.add(conn);
  }

  private removeFrom(map: Map<string, Set<Connection>>, name: string, conn: Connection): void {
    const set = map.get(name);
    if (set === undefined) return;
    set.delete(conn);
    if (set.size === 0) map.delete(name);
  }
}
