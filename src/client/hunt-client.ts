// The TypeScript client of the engine's wire protocol v1, for Node and browsers: batching of
// publishes (linger and size), the in-flight window from the welcome, idempotent producers with
// re-send of unacknowledged pubs after a reconnect (exactly-once effects end to end), key and
// prefix subscriptions that survive reconnects (recovering missed updates from the event log when
// it holds them), `get`, `replay` of the event log (pages, or a follow resumed across reconnects),
// and reconnects with exponential backoff and jitter.
//
// Cluster mode: a key's reads are served by the host that applies its partition. `get`, key
// subscriptions and replay pages refused with NOT_OWNER go to the host it names (the client opens
// a connection there, with the same options, and keeps it); a key subscription whose partition
// moves (`moved`) and a follow ended by NOT_OWNER go on at the new owner. A prefix spans every
// host's partitions: a prefix subscription is made at each host that applies partitions (the ack
// names them) and at each host `moved` names later.
import { decodeServerMessage, encodeClientMessage } from './codec.js';
import { ReplayStream, type ReplayOptions, type ReplayTransport, type ReplayedEvent } from './replay-stream.js';
import type { MetaRecord } from '../shared/metadata.js';
import { CloseCode } from '../shared/wire.js';

export interface ClientEvent {
  key: string;
  type: string;
  ts?: number;
  data?: Record<string, unknown>;
}

/** The subset of the WebSocket API (browsers, and the `ws` package in Node) the client uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: { data?: unknown; code?: number; reason?: string; message?: string }) => void): void;
}
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** Gives a current token: called for every connection, and before a JWT's `exp` to refresh it. */
export type TokenProvider = () => string | Promise<string>;

export interface HuntClientOptions {
  /** ws:// or wss:// URL of the stream endpoint, e.g. ws://127.0.0.1:9001/v1/stream. */
  url: string;
  /**
   * Bearer token (sent as the `token` query parameter, which browsers can set), or a provider of
   * one. With a provider, the client asks it for a token on every (re)connection and, when that
   * token is a JWT, again before its `exp`, and hands the new one to the engine (`auth`) on the
   * open connection, so subscriptions and pubs in flight carry on.
   */
  token?: string | TokenProvider;
  /** Wire encoding; default msgpack. */
  encoding?: 'msgpack' | 'json';
  /**
   * Idempotent producer name. With it, every pub carries a seq and the pubs not yet acknowledged
   * when a connection drops are sent again, with their seqs, on the next one: each event applies
   * exactly once. Without it, pubs in flight when a connection drops fail with DISCONNECTED.
   */
  producer?: string;
  /** How long publish() waits for more events before sending a pub; default 2 ms. */
  lingerMs?: number;
  /** Events per pub at most; default 1,000 (never more than the engine's maxEventsPerPub). */
  maxBatchEvents?: number;
  /** Reconnect after a lost connection; default true. */
  reconnect?: boolean;
  /** Backoff between connection attempts: doubles from initialMs up to maxMs, with ±50% jitter. */
  backoff?: { initialMs: number; maxMs: number };
  /** The WebSocket implementation; default globalThis.WebSocket, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
}

export interface PublishResult {
  /** The pub was a re-send the engine had already applied. */
  dup: boolean;
}

export interface Update {
  key: string;
  meta: MetaRecord;
}

export class HuntError extends Error {
  constructor(
    /** An engine error code (docs/protocol.md), or DISCONNECTED / CLOSED / FENCED from the client. */
    readonly code: string,
    message: string,
    /** NOT_OWNER: the base URL of the host that applies the key's partition, if one does. */
    readonly owner?: string,
  ) {
    super(message);
    this.name = 'HuntError';
  }
}

interface Waiter {
  resolve(result: PublishResult): void;
  reject(error: Error): void;
  /** How many of the batch's events are this publish's (they follow the previous waiter's). */
  events: number;
}

interface Batch {
  id: number;
  /** Given when the pub is first sent (0 until then), so pubs go out in seq order whatever is retried. */
  seq: number;
  /** It was in flight when a connection dropped: it may have been applied, so only its own seq may carry it. */
  uncertain: boolean;
  events: ClientEvent[];
  /** Encoded size of the events, for the engine's frame limit. */
  bytes: number;
  waiters: Waiter[];
}

interface Subscription {
  keyOrPrefix: string;
  prefix: boolean;
  onUpdate: (update: Update) => void;
  /** Exact keys: the last version seen, for recovery after a reconnect. */
  version: number | null;
  /** Ends it wherever it is now (here, or at the host its key's partition moved to). */
  end: () => Promise<void>;
  /** Prefix subscriptions in cluster mode: the hosts it is made at (shared by its copies on each). */
  spread?: PrefixSpread;
}

/** A prefix subscription and the hosts it is made at (base URLs); the client it was made on spreads it. */
interface PrefixSpread {
  client: HuntClient;
  hosts: Set<string>;
  /** Its copies on the other hosts. */
  copies: (() => Promise<void>)[];
  ended: boolean;
}

interface Welcome {
  maxInFlight: number;
  maxEventsPerPub: number;
  maxPayloadBytes: number;
  partitions: number;
  durability: string;
}

/** A token is refreshed when this share of its remaining lifetime is left, at most a minute before its exp. */
const REFRESH_SHARE = 0.2;
const MAX_REFRESH_LEAD_MS = 60_000;
/** After a failed refresh, the next try comes this much later (the engine closes the connection at exp). */
const REFRESH_RETRY_MS = 1000;

/** A JWT's `exp` in ms since the epoch; null when the token is not a JWT or has none. */
export function jwtExpiryMs(token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1]!.replaceAll('-', '+').replaceAll('_', '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** Bytes of a pub frame besides its events: op, id, seq and the array header, with room to spare. */
const PUB_ENVELOPE_BYTES = 64;

type ServerMessage = Record<string, any>;

const OPEN = 1;
const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 5000 };
/** NOT_OWNER answers followed for one read at most (hosts can disagree for a moment during a rebalance). */
const MAX_OWNER_HOPS = 20;
/** Wait before asking again when no host applies the partition (a rebalance). */
const REBALANCE_RETRY_MS = 250;

/** What makes an event malformed whatever the engine's settings (caught before batching it with others). */
function shapeProblem(event: ClientEvent): string | null {
  if (typeof event !== 'object' || event === null) return 'an event must be an object';
  if (typeof event.key !== 'string' || event.key === '') return 'key must be a non-empty string';
  if (typeof event.type !== 'string' || event.type === '') return 'type must be a non-empty string';
  if (event.ts !== undefined && (typeof event.ts !== 'number' || !Number.isFinite(event.ts))) return 'ts must be a finite number';
  if (event.data !== undefined && (typeof event.data !== 'object' || event.data === null || Array.isArray(event.data))) return 'data must be an object';
  return null;
}

export class HuntClient {
  private ws: WebSocketLike | null = null;
  private welcome: Welcome | null = null;
  private nextId = 1;
  private nextSeq = 1;
  private closed = false;
  private attempts = 0;
  /** Events waiting for the linger to end. */
  private forming: Batch | null = null;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** Pubs formed and not yet sent (no connection, or the window is full), in seq order. */
  private readonly queued: Batch[] = [];
  private readonly inFlight = new Map<number, Batch>();
  private readonly requests = new Map<number, { resolve(message: ServerMessage): void; reject(error: Error): void }>();
  private readonly subscriptions = new Set<Subscription>();
  /** Follows by the id of the `replay` that runs them on the current connection (a new one on each). */
  private readonly follows = new Map<number, ReplayStream>();
  private ready: Promise<void>;
  private markReady!: () => void;
  /** The connection is welcomed and, for a producer, its hello answered: pubs may go out. */
  private isReady = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly options: Required<Omit<HuntClientOptions, 'token' | 'producer' | 'WebSocket'>> & Pick<HuntClientOptions, 'token' | 'producer' | 'WebSocket'>;

  private constructor(
    options: HuntClientOptions,
    /** Cluster mode: connections to the other hosts, by base URL (one map for the client and its connections). */
    private readonly ownerClients: Map<string, Promise<HuntClient>>,
  ) {
    this.options = { encoding: 'msgpack', lingerMs: 2, maxBatchEvents: 1000, reconnect: true, backoff: DEFAULT_BACKOFF, ...options };
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  /** Connects (and says hello as the producer, if any); rejects if the first attempt fails. */
  static connect(options: HuntClientOptions): Promise<HuntClient> {
    return HuntClient.connectSharing(options, new Map());
  }

  /** connect(), for a connection to another host that shares the connections to the hosts with the client that opens it. */
  private static async connectSharing(options: HuntClientOptions, ownerClients: Map<string, Promise<HuntClient>>): Promise<HuntClient> {
    const client = new HuntClient(options, ownerClients);
    await client.open();
    return client;
  }

  /** The engine's welcome: partitions, durability and limits. */
  get limits(): Welcome | null {
    return this.welcome;
  }

  /**
   * Publishes events; resolves once the engine acknowledged the pub that carried them. A pub
   * holds at most `maxBatchEvents` events and fits the engine's `maxPayloadBytes`: a larger
   * publish is split, and an event too large for any frame is refused (TOO_LARGE) before sending.
   */
  publish(events: ClientEvent | ClientEvent[]): Promise<PublishResult> {
    if (this.closed) return Promise.reject(new HuntError('CLOSED', 'the client is closed'));
    const list = Array.isArray(events) ? events : [events];
    const invalid = list.findIndex((event) => shapeProblem(event) !== null);
    if (invalid >= 0) return Promise.reject(new HuntError('BAD_EVENT', `events[${invalid}]: ${shapeProblem(list[invalid]!)}`));
    const max = Math.min(this.options.maxBatchEvents, this.welcome?.maxEventsPerPub ?? Infinity);
    const budget = (this.welcome?.maxPayloadBytes ?? Infinity) - PUB_ENVELOPE_BYTES;
    const sizes = list.map((event) => encodeClientMessage(event as unknown as Record<string, unknown>, this.options.encoding).length);
    const huge = sizes.findIndex((size) => size > budget);
    if (huge >= 0) return Promise.reject(new HuntError('TOO_LARGE', `events[${huge}] is ${sizes[huge]} bytes encoded; the engine takes pubs of at most ${this.welcome!.maxPayloadBytes} bytes (maxPayloadBytes)`));
    const parts = splitPub(sizes, max, budget);
    if (parts.length > 1) {
      return Promise.all(parts.map(([from, to]) => this.publishPart(list.slice(from, to), sizes.slice(from, to), max, budget))).then((results) => ({ dup: results.every((r) => r.dup) }));
    }
    return this.publishPart(list, sizes, max, budget);
  }

  /** Adds events that fit one pub to the pub being formed (forming it first if they do not fit). */
  private publishPart(list: ClientEvent[], sizes: number[], max: number, budget: number): Promise<PublishResult> {
    const bytes = sizes.reduce((sum, size) => sum + size, 0);
    return new Promise((resolve, reject) => {
      if (this.forming !== null && (this.forming.events.length + list.length > max || this.forming.bytes + bytes > budget)) this.formBatch();
      this.forming ??= { id: 0, seq: 0, uncertain: false, events: [], bytes: 0, waiters: [] };
      for (const event of list) this.forming.events.push(event);
      this.forming.bytes += bytes;
      this.forming.waiters.push({ resolve, reject, events: list.length });
      if (this.forming.events.length >= max) this.formBatch();
      else this.lingerTimer ??= setTimeout(() => this.formBatch(), this.options.lingerMs);
    });
  }

  /** Resolves when every event published so far is acknowledged (or failed). */
  flush(): Promise<void> {
    this.formBatch();
    if (this.queued.length === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** A key's metadata record, or null if the key has none (asked of the host that applies it). */
  get(key: string): Promise<MetaRecord | null> {
    return this.followingOwners(async (client) => (await client.request({ op: 'get', key })).meta as MetaRecord | null);
  }

  /** Runs a read here; if it is refused with NOT_OWNER, at the host named (or here again after a rebalance). */
  private async followingOwners<T>(read: (client: HuntClient) => Promise<T>): Promise<T> {
    let client: HuntClient = this;
    for (let hops = 0; ; hops++) {
      try {
        return await read(client);
      } catch (error) {
        if (!(error instanceof HuntError) || error.code !== 'NOT_OWNER' || hops >= MAX_OWNER_HOPS) throw error;
        if (error.owner === undefined) await new Promise((resolve) => setTimeout(resolve, REBALANCE_RETRY_MS));
        else client = await this.ownerClient(error.owner);
      }
    }
  }

  /** The connection to the host at `owner` (a base URL), opened on first use. */
  private ownerClient(owner: string): Promise<HuntClient> {
    if (this.closed) return Promise.reject(new HuntError('CLOSED', 'the client is closed'));
    let client = this.ownerClients.get(owner);
    if (client === undefined) {
      const url = new URL('/v1/stream', owner);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const { producer: _producer, ...options } = this.options;
      client = HuntClient.connectSharing({ ...options, url: url.toString() }, this.ownerClients);
      this.ownerClients.set(owner, client);
      client.catch(() => this.ownerClients.delete(owner));
    }
    return client;
  }

  /**
   * Calls `onUpdate` with each committed change of a key (starting with its current record), or
   * of every key that starts with a prefix. Returns a function that ends the subscription.
   */
  async subscribe(keyOrPrefix: string, onUpdate: (update: Update) => void, options: { prefix?: boolean } = {}): Promise<() => Promise<void>> {
    const subscription: Subscription = { keyOrPrefix, prefix: options.prefix ?? false, onUpdate, version: null, end: () => Promise.resolve() };
    if (subscription.prefix) {
      const spread: PrefixSpread = (subscription.spread = { client: this, hosts: new Set(), copies: [], ended: false });
      const endHere = await this.subscribeHere(subscription);
      subscription.end = async () => {
        spread.ended = true;
        await Promise.all([endHere(), ...spread.copies.map((end) => end())]);
      };
      return () => subscription.end();
    }
    // Where another host applies the key, the subscription is made there (and follows it on from there).
    subscription.end = await this.followingOwners((client) => (client === this ? this.subscribeHere(subscription) : client.subscribe(keyOrPrefix, onUpdate)));
    return () => subscription.end();
  }

  private async subscribeHere(subscription: Subscription): Promise<() => Promise<void>> {
    this.subscriptions.add(subscription);
    try {
      this.subscribed(subscription, await this.request(this.subMessage(subscription)));
    } catch (error) {
      this.subscriptions.delete(subscription);
      throw error;
    }
    return () => this.unsubscribe(subscription);
  }

  /** A sub's ack: in cluster mode, a prefix subscription spreads to the hosts it names. */
  private subscribed(subscription: Subscription, ack: ServerMessage): void {
    if (subscription.spread !== undefined && typeof ack.host === 'string' && Array.isArray(ack.hosts)) subscription.spread.client.spreadTo(subscription, [ack.host, ...(ack.hosts as string[])]);
  }

  /** Makes the prefix subscription at each of `hosts` it is not made at yet (retried until it takes, or is ended). */
  private spreadTo(subscription: Subscription, hosts: string[]): void {
    const spread = subscription.spread!;
    // The first host named is the one answering: for the subscription made here, this client's.
    for (const host of hosts) {
      if (spread.hosts.has(host)) continue;
      spread.hosts.add(host);
      if (spread.hosts.size > 1) void this.copyTo(subscription, host);
    }
  }

  private async copyTo(subscription: Subscription, host: string): Promise<void> {
    const spread = subscription.spread!;
    for (let attempt = 0; !this.closed && !spread.ended; attempt++) {
      try {
        const copy: Subscription = { ...subscription, end: () => Promise.resolve() };
        const end = await (await this.ownerClient(host)).subscribeHere(copy);
        if (spread.ended) return void (await end().catch(() => {}));
        spread.copies.push(end);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      }
    }
  }

  private async unsubscribe(subscription: Subscription): Promise<void> {
    if (!this.subscriptions.delete(subscription)) return;
    const field = subscription.prefix ? 'prefixes' : 'keys';
    if (![...this.subscriptions].some((s) => s.prefix === subscription.prefix && s.keyOrPrefix === subscription.keyOrPrefix)) {
      await this.request({ op: 'unsub', [field]: [subscription.keyOrPrefix] });
    }
  }

  /** The key's partition went to the host at `owner`: the subscription goes on there (retried until it takes, or is ended). */
  private async move(subscription: Subscription, owner: string): Promise<void> {
    this.subscriptions.delete(subscription);
    let ended = false;
    subscription.end = async () => {
      ended = true;
    };
    for (let attempt = 0; !this.closed && !ended; attempt++) {
      try {
        const end = await (await this.ownerClient(owner)).subscribe(subscription.keyOrPrefix, subscription.onUpdate);
        if (ended || this.closed) return void (await end().catch(() => {}));
        subscription.end = end;
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      }
    }
  }

  /**
   * The events of a partition's log (or one key's, `key`) from offset `from`, as an async iterator.
   * Without `follow` it ends at the log's end (pages asked of the host that applies the partition);
   * with it, it goes on with each newly committed event, across reconnects (resuming at the last
   * `next`), until closed or its loop ends. Needs the engine's event log (HUNT_LOG_RETENTION_EVENTS).
   */
  replay(options: ReplayOptions): ReplayStream {
    return new ReplayStream(options, this.replayTransport());
  }

  /** Replays through this connection: pages from here on follow owners; a follow runs here. */
  private replayTransport(): ReplayTransport {
    return {
      page: async (message) => (await this.followingOwners((client) => client.request(message))) as { events: ReplayedEvent[]; next: number | null },
      follow: (stream) => this.follow(stream),
      unfollow: (stream) => this.unfollow(stream),
    };
  }

  /**
   * A follow whose partition went to another host goes on at that host from its position: the
   * owner re-applies from the changelog's position, giving the same offsets, so nothing is skipped
   * or repeated (a follow that lags behind that position gets OUT_OF_RANGE there). Each move waits
   * a moment first, so hosts that disagree for a moment during a rebalance are not asked in a loop.
   */
  private async followOwner(stream: ReplayStream, owner: string | undefined, next: unknown): Promise<void> {
    if (typeof next === 'number') stream.skipTo(next);
    await new Promise((resolve) => setTimeout(resolve, REBALANCE_RETRY_MS));
    if (owner === undefined) return this.follow(stream);
    try {
      const client = await this.ownerClient(owner);
      stream.moveTo(client.replayTransport());
      client.follow(stream);
    } catch (error) {
      stream.end(error as Error);
    }
  }

  /** Runs a follow under a new id: now if the connection is ready, else when the next one is (onWelcome). */
  private follow(stream: ReplayStream): void {
    this.forgetFollow(stream);
    if (!stream.running) return;
    if (this.closed) return stream.end(new HuntError('CLOSED', 'the client is closed'));
    if (this.ws === null && !this.options.reconnect) return stream.end(new HuntError('DISCONNECTED', 'not connected, and reconnect is off'));
    const id = this.nextId++;
    this.follows.set(id, stream);
    if (this.isReady) this.ws?.send(this.encode({ ...stream.message(), id }));
  }

  private async unfollow(stream: ReplayStream): Promise<void> {
    const id = this.forgetFollow(stream);
    if (id !== null && this.isReady) await this.request({ op: 'unfollow', replay: id }, true).catch(() => {}); // a lost connection ended it anyway
  }

  /** Drops a follow from the connection's; its id, if it had one. */
  private forgetFollow(stream: ReplayStream): number | null {
    for (const [id, running] of this.follows) {
      if (running !== stream) continue;
      this.follows.delete(id);
      return id;
    }
    return null;
  }

  private endFollows(error: HuntError): void {
    for (const stream of this.follows.values()) stream.end(error);
    this.follows.clear();
  }

  /** Closes the connection; pubs not yet acknowledged fail with CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.ownerClients.values()) client.then((c) => c.close(), () => {});
    this.stopRefreshing();
    this.failAll(new HuntError('CLOSED', 'the client was closed before the engine acknowledged this'), true);
    this.endFollows(new HuntError('CLOSED', 'the client is closed'));
    this.ws?.close(1000, 'client closed');
  }

  private async open(): Promise<void> {
    const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const Impl = WebSocketImpl ?? ((await import('ws')).default as unknown as WebSocketConstructor);
    let token: string | undefined;
    try {
      token = await this.currentToken();
    } catch (error) {
      const reason = `the token provider failed: ${(error as Error).message}`;
      this.onClose(1006, reason);
      throw new HuntError('DISCONNECTED', `cannot connect to ${this.options.url}: ${reason}`);
    }
    return new Promise<void>((resolve, reject) => {
      const url = token === undefined ? this.options.url : `${this.options.url}${this.options.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
      const ws = new Impl(url, [`hunt.v1.${this.options.encoding}`]);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let welcomed = false;
      let failure = '';
      ws.addEventListener('message', (event) => {
        const message = this.decode(event.data);
        if (message === null) return;
        if (!welcomed && message.op === 'welcome') {
          welcomed = true;
          if (token !== undefined) this.refreshBefore(jwtExpiryMs(token));
          this.onWelcome(message).then(resolve, reject);
          return;
        }
        this.onMessage(message);
      });
      ws.addEventListener('close', (event) => {
        if (this.ws === ws) this.onClose(event.code ?? 1006, event.reason ?? '');
        if (!welcomed) reject(new HuntError('DISCONNECTED', `cannot connect to ${this.options.url}: ${failure || `closed before the welcome (${event.code ?? 1006})`}`));
      });
      // A close event follows every error and decides what happens next; keep the reason.
      ws.addEventListener('error', (event) => (failure = event.message ?? ''));
    });
  }

  private async currentToken(): Promise<string | undefined> {
    const token = this.options.token;
    return typeof token === 'function' ? await token() : token;
  }

  /** With a token provider: asks it for a new token before `expiresAtMs` and sends it as `auth`. */
  private refreshBefore(expiresAtMs: number | null): void {
    this.stopRefreshing();
    if (typeof this.options.token !== 'function' || expiresAtMs === null) return;
    const left = expiresAtMs - Date.now();
    this.refreshTimer = setTimeout(() => void this.refresh(expiresAtMs), Math.max(0, left - Math.min(MAX_REFRESH_LEAD_MS, left * REFRESH_SHARE)));
  }

  private async refresh(expiresAtMs: number): Promise<void> {
    this.refreshTimer = null;
    try {
      const token = (await this.currentToken())!;
      await this.request({ op: 'auth', token }, true);
      this.refreshBefore(jwtExpiryMs(token));
    } catch {
      // The engine closes the connection at exp if no refresh got through; the reconnect asks the
      // provider again. Until then, keep trying.
      if (!this.closed && this.ws !== null && Date.now() < expiresAtMs) this.refreshTimer = setTimeout(() => void this.refresh(expiresAtMs), REFRESH_RETRY_MS);
    }
  }

  private stopRefreshing(): void {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  private async onWelcome(message: ServerMessage): Promise<void> {
    this.welcome = { maxInFlight: message.maxInFlight, maxEventsPerPub: message.maxEventsPerPub, maxPayloadBytes: message.maxPayloadBytes, partitions: message.partitions, durability: message.durability };
    this.attempts = 0;
    if (this.options.producer !== undefined) {
      const ack = await this.request({ op: 'hello', producer: this.options.producer }, true);
      // Pubs of this client keep their seqs (re-sends); new ones go above what the engine has taken.
      this.nextSeq = Math.max(this.nextSeq, (ack.seq as number) + 1);
    }
    for (const subscription of [...this.subscriptions]) {
      void this.request(this.subMessage(subscription), true).then((ack) => this.subscribed(subscription, ack), (error: unknown) => {
        // Its key's partition went to another host while this client was away.
        if (error instanceof HuntError && error.code === 'NOT_OWNER' && error.owner !== undefined) void this.move(subscription, error.owner);
      });
    }
    this.isReady = true;
    this.markReady();
    for (const stream of [...this.follows.values()]) this.follow(stream);
    this.pump();
  }

  private onMessage(message: ServerMessage): void {
    switch (message.op) {
      case 'update':
        for (const subscription of this.subscriptions) {
          if (subscription.prefix ? (message.key as string).startsWith(subscription.keyOrPrefix) : message.key === subscription.keyOrPrefix) {
            if (!subscription.prefix) subscription.version = message.meta.version;
            subscription.onUpdate({ key: message.key, meta: message.meta });
          }
        }
        return;
      case 'ack':
      case 'error': {
        const id = message.id as number | null;
        if (id === null) return;
        const batch = this.inFlight.get(id);
        if (batch !== undefined) return this.settle(batch, message);
        const stream = this.follows.get(id);
        if (stream !== undefined && message.op === 'error') {
          this.follows.delete(id);
          if (message.code === 'NOT_OWNER') return void this.followOwner(stream, message.owner, message.next);
          return stream.end(new HuntError(message.code, message.message, message.owner)); // e.g. OUT_OF_RANGE: overtaken by the retention
        }
        const request = this.requests.get(id);
        if (request === undefined) return;
        this.requests.delete(id);
        if (message.op === 'error') request.reject(new HuntError(message.code, message.message, message.owner));
        else request.resolve(message);
        return;
      }
      case 'events': {
        // A follow's events, or a replay page answering its request.
        const stream = this.follows.get(message.id);
        return stream === undefined ? this.answer(message) : stream.received(message.events, message.next);
      }
      case 'meta':
        return this.answer(message);
      case 'moved':
        for (const subscription of [...this.subscriptions]) {
          if (!subscription.prefix && (message.keys as string[]).includes(subscription.keyOrPrefix)) void this.move(subscription, message.owner as string);
          // Some of the prefix's partitions are at that host now: the prefix is subscribed there too.
          if (subscription.spread !== undefined && ((message.prefixes as string[] | undefined) ?? []).includes(subscription.keyOrPrefix)) subscription.spread.client.spreadTo(subscription, [message.owner as string]);
        }
        return;
      default:
      // missed and lagging need nothing here: the snapshot update after a recovery, and
      // the resubscription after a lagging close, bring the subscriber up to date.
    }
  }

  /** Resolves the request a reply answers. */
  private answer(message: ServerMessage): void {
    const request = this.requests.get(message.id);
    this.requests.delete(message.id);
    request?.resolve(message);
  }

  private settle(batch: Batch, message: ServerMessage): void {
    this.inFlight.delete(batch.id);
    if (message.op === 'ack') {
      for (const waiter of batch.waiters) waiter.resolve({ dup: message.dup === true });
    } else if (message.code === 'OVERLOADED' || message.code === 'SHUTTING_DOWN') {
      // Not applied: send it again later, before the pubs formed after it. Its seq was not taken,
      // but this connection may have taken higher ones since, so it goes out with a fresh seq -
      // unless an earlier connection may have applied it: then only its own seq is safe, and only
      // on a new connection (where re-sends start over in seq order).
      this.queued.unshift(batch);
      if (!batch.uncertain) batch.seq = 0;
      else if (this.options.producer !== undefined) this.ws?.close(1000, 'retrying a re-sent pub on a new connection');
      setTimeout(() => this.pump(), this.backoffMs(1));
    } else if (typeof message.index === 'number' && batch.waiters.length > 1) {
      this.dropInvalid(batch, message.index, new HuntError(message.code, message.message));
    } else {
      const error = new HuntError(message.code, message.message);
      for (const waiter of batch.waiters) waiter.reject(error);
    }
    this.pump();
  }

  /**
   * A pub was refused for one event (`index`), so nothing of it was applied: that event's publish
   * fails, and the other publishes batched with it go again as a new pub, after those already
   * queued (with a new seq when sent).
   */
  private dropInvalid(batch: Batch, index: number, error: HuntError): void {
    const rest: Batch = { id: 0, seq: 0, uncertain: false, events: [], bytes: batch.bytes, waiters: [] };
    let first = 0;
    for (const waiter of batch.waiters) {
      if (index >= first && index < first + waiter.events) waiter.reject(error);
      else {
        for (let i = first; i < first + waiter.events; i++) rest.events.push(batch.events[i]!);
        rest.waiters.push(waiter);
      }
      first += waiter.events;
    }
    if (rest.events.length > 0) this.queued.push(rest);
  }

  private onClose(code: number, reason: string): void {
    this.ws = null;
    this.stopRefreshing();
    if (code === CloseCode.FENCED) {
      // Another connection speaks for this producer now; reconnecting would fence it in turn.
      this.closed = true;
      this.failAll(new HuntError('FENCED', `producer ${this.options.producer ?? ''} connected elsewhere: ${reason}`), true);
      for (const [, request] of this.requests) request.reject(new HuntError('FENCED', reason));
      this.requests.clear();
      this.endFollows(new HuntError('FENCED', reason));
      return;
    }
    this.isReady = false;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    const lost = new HuntError('DISCONNECTED', `connection lost (${code} ${reason}) before the engine acknowledged this`);
    for (const [, request] of this.requests) request.reject(lost);
    this.requests.clear();
    if (this.options.producer !== undefined) {
      // Unacknowledged pubs go again, with their seqs and in seq order, on the next connection;
      // the pubs never sent follow, in their order.
      for (const batch of this.inFlight.values()) batch.uncertain = true;
      const numbered = [...this.inFlight.values(), ...this.queued.filter((b) => b.seq !== 0)].sort((a, b) => a.seq - b.seq);
      const unnumbered = this.queued.filter((b) => b.seq === 0);
      this.inFlight.clear();
      this.queued.splice(0, this.queued.length, ...numbered, ...unnumbered);
    } else this.failAll(lost, false);
    if (this.closed || !this.options.reconnect) {
      const ended = this.closed ? new HuntError('CLOSED', 'the client is closed') : lost;
      this.failAll(ended, true);
      this.endFollows(ended);
      return;
    }
    setTimeout(() => this.reconnect(), this.backoffMs(this.attempts++));
  }

  private reconnect(): void {
    if (this.closed) return;
    this.open().catch(() => {
      // onClose has already scheduled the next attempt.
    });
  }

  /** Sends queued pubs while the connection is up and the window has room. */
  private pump(): void {
    const ws = this.ws;
    const window = this.welcome?.maxInFlight ?? 0;
    while (ws !== null && this.isReady && ws.readyState === OPEN && this.queued.length > 0 && this.inFlight.size < window) {
      const batch = this.queued.shift()!;
      batch.id = this.nextId++;
      if (batch.seq === 0) batch.seq = this.nextSeq++;
      this.inFlight.set(batch.id, batch);
      ws.send(this.encode(this.options.producer === undefined ? { op: 'pub', id: batch.id, events: batch.events } : { op: 'pub', id: batch.id, seq: batch.seq, events: batch.events }));
    }
    if (this.queued.length === 0 && this.inFlight.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private formBatch(): void {
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    const batch = this.forming;
    if (batch === null) return;
    this.forming = null;
    this.queued.push(batch);
    this.pump();
  }

  private subMessage(subscription: Subscription): Record<string, unknown> {
    if (subscription.prefix) return { op: 'sub', prefixes: [subscription.keyOrPrefix] };
    return subscription.version === null ? { op: 'sub', keys: [subscription.keyOrPrefix] } : { op: 'sub', keys: [subscription.keyOrPrefix], from: subscription.version };
  }

  /** Sends a request and resolves with its reply; waits for a connection unless `now`. */
  private async request(message: Record<string, unknown>, now = false): Promise<ServerMessage> {
    if (this.closed) throw new HuntError('CLOSED', 'the client is closed');
    if (!now && this.ws === null && !this.options.reconnect) throw new HuntError('DISCONNECTED', 'not connected, and reconnect is off');
    if (!now) await this.ready;
    if (this.closed) throw new HuntError('CLOSED', 'the client is closed');
    const ws = this.ws;
    if (ws === null) throw new HuntError('DISCONNECTED', 'not connected');
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject });
      ws.send(this.encode({ ...message, id }));
    });
  }

  private failAll(error: HuntError, queuedToo: boolean): void {
    for (const batch of this.inFlight.values()) for (const waiter of batch.waiters) waiter.reject(error);
    this.inFlight.clear();
    if (queuedToo) {
      if (this.forming !== null) this.queued.push(this.forming);
      this.forming = null;
      // Nothing is left to batch: the timer would only keep the process alive.
      if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      for (const batch of this.queued.splice(0)) for (const waiter of batch.waiters) waiter.reject(error);
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private backoffMs(attempt: number): number {
    const { initialMs, maxMs } = this.options.backoff;
    return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20)) * (0.5 + Math.random());
  }

  private encode(message: Record<string, unknown>): string | Uint8Array {
    return encodeClientMessage(message, this.options.encoding);
  }

  private decode(data: unknown): ServerMessage | null {
    return decodeServerMessage(data);
  }
}

/** [from, to) ranges of events that each fit one pub: at most `max` events and `budget` bytes. */
function splitPub(sizes: number[], max: number, budget: number): [number, number][] {
  const parts: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (i > from && (i - from === max || bytes + sizes[i]! > budget)) {
      parts.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += sizes[i]!;
  }
  parts.push([from, sizes.length]);
  return parts;
}
