// The uWebSockets.js front end: the /v1/stream WebSocket endpoint and the HTTP endpoints.
// Everything that touches a uWS request, response or socket stays in this file.
import { notOwnerMessage, type Ownership } from '../cluster/ownership.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';
import type { Logger } from '../../shared/logger.js';
import { readMeta, type StoreSet } from '../../shared/store.js';
import { partitionOf } from '../../shared/partition.js';
import { Authenticator } from '../auth/authenticator.js';
import type { AuthGate, GrantedOutcome } from '../auth/auth-gate.js';
import type { Permissions } from '../auth/permissions.js';
import { forbiddenMessage } from '../auth/scope-checks.js';
import type { Connection } from '../connections/connection.js';
import type { Producer } from '../ingest/producers.js';
import type { TlsFiles } from './tls.js';
import { DEFAULT_LIST_LIMIT, listKeys, MAX_LIST_LIMIT, mergePages, type KeyPage, type PartitionInfo } from './listings.js';
import { ListingUnavailable, pagesOfHosts, type Credentials } from '../cluster/cluster-listing.js';
import type { MessageHandler } from '../connections/message-handler.js';
import type { RoutesReload } from '../routes/routes.js';
import { loadDashboardAssets } from './dashboard-assets.js';
import { encodeMessage } from '../connections/protocol.js';
import { ErrorCode, ProtocolError, SUBPROTOCOLS, type Encoding, type Limits, type ServerMessage } from '../../shared/wire.js';
import { uws } from './uws.js';
import { checkKey } from '../../shared/event-checks.js';
import type { ConnectionSlots } from './connection-slots.js';

/** uWS closes a socket whose frame exceeds this; frames between our limit and it get TOO_LARGE. */
const HARD_PAYLOAD_FACTOR = 2;
/** A client that does not read its acks is disconnected past this much unsent data. */
const MAX_BACKPRESSURE_BYTES = 4 * 1024 * 1024;
const KEYS_PREFIX = '/v1/keys/';
const RELOAD_ROUTES_URL = '/v1/admin/reload-routes';
/** LIBUS_LISTEN_DEFAULT: SO_REUSEPORT, so every acceptor's app listens on the one port. */
const SHARED_PORT = 0;

interface SocketData {
  conn: SocketConnection | null;
  encoding: Encoding;
  /** What the upgrade's token granted. */
  granted: GrantedOutcome;
}

/** The headers of an upgrade request, read before its token is checked (a JWT is checked asynchronously). */
interface UpgradeHeaders {
  key: string;
  protocols: string;
  extensions: string;
}

class SocketConnection implements Connection {
  inFlight = 0;
  closed = false;
  frames = 0;
  producer: Producer | null = null;
  lastSeq = 0;
  floodRefusals = 0;
  waitingFrames: { frame: ArrayBuffer; isBinary: boolean }[] | null = null;
  expiryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly id: number,
    readonly encoding: Encoding,
    private readonly ws: WebSocket<SocketData>,
    public permissions: Permissions,
    public credential: GrantedOutcome['credential'],
  ) {}

  send(message: ServerMessage, encoding: Encoding, corked: boolean): void {
    if (this.closed) return;
    const payload = encodeMessage(message, encoding);
    const isBinary = encoding === 'msgpack';
    if (corked) this.ws.send(payload, isBinary);
    else this.ws.cork(() => this.ws.send(payload, isBinary));
  }

  sendEncoded(payload: string | Buffer, encoding: Encoding): void {
    if (!this.closed) this.ws.cork(() => this.ws.send(payload, encoding === 'msgpack'));
  }

  bufferedBytes(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  cork(sends: () => void): void {
    if (!this.closed) this.ws.cork(sends);
  }

  close(code: number, reason: string): void {
    if (!this.closed) this.ws.end(code, reason);
  }
}

export interface ServerOptions {
  host: string;
  port: number;
  limits: Limits;
  idleTimeoutSeconds: number;
  /** The engine's open WebSockets, over all acceptors: past its limit, upgrades are refused with 503. */
  connectionSlots: ConnectionSlots;
  /** Serve wss:// and https:// with these PEM files. */
  tls: TlsFiles | undefined;
  /** The partitions' figures for GET /v1/partitions. */
  partitions: () => PartitionInfo[];
  /** Prometheus text for GET /metrics; null with HUNT_METRICS=off. */
  metrics: (() => Promise<string>) | null;
  /** The dashboard's figures for GET /v1/stats; null with HUNT_METRICS=off. */
  stats: (() => Promise<unknown>) | null;
  /** Extra fields of the welcome message. */
  welcome: { partitions: number; durability: string };
  /** Re-reads HUNT_ROUTES for POST /v1/admin/reload-routes. */
  reloadRoutes: (trigger: string) => Promise<RoutesReload>;
  /** Cluster mode: a key's record is read from the host that applies its partition. */
  ownership: Ownership;
}

export class FrontEndServer {
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private readonly connections = new Set<SocketConnection>();
  private nextConnectionId = 1;
  ready = false;

  constructor(
    private readonly options: ServerOptions,
    private readonly handler: MessageHandler,
    private readonly stores: StoreSet,
    private readonly gate: AuthGate,
    private readonly log: Logger,
  ) {
    this.app = options.tls === undefined ? uws.App() : uws.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile });
    this.app.ws<SocketData>('/v1/stream', {
      compression: uws.DISABLED,
      maxPayloadLength: options.limits.maxPayloadBytes * HARD_PAYLOAD_FACTOR,
      idleTimeout: options.idleTimeoutSeconds,
      maxBackpressure: MAX_BACKPRESSURE_BYTES,
      // A boolean in the native build, whatever the typings say.
      closeOnBackpressureLimit: true as unknown as number,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: (ws, frame, isBinary) => {
        const conn = ws.getUserData().conn;
        if (conn !== null) this.handler.onFrame(conn, frame, isBinary);
      },
      drain: (ws) => {
        const conn = ws.getUserData().conn;
        if (conn !== null) this.handler.onDrain(conn);
      },
      close: (ws) => {
        const conn = ws.getUserData().conn;
        if (conn === null) return;
        conn.closed = true;
        this.gate.release(conn);
        this.connections.delete(conn);
        this.options.connectionSlots.release();
        this.handler.onClose(conn);
      },
    });
    this.app.get('/healthz', (res) => this.json(res, '200 OK', { status: 'ok' }));
    this.app.get('/readyz', (res, req) =>
      this.authenticate(res, req, () => {
        if (this.ready) this.json(res, '200 OK', { status: 'ready' });
        else this.json(res, '503 Service Unavailable', { status: 'not ready' });
      }),
    );
    this.app.get(`${KEYS_PREFIX}*`, (res, req) => this.getKey(res, req));
    this.app.get('/v1/keys', (res, req) => this.listKeys(res, req));
    this.app.get('/metrics', (res, req) => this.metrics(res, req));
    this.app.get('/v1/partitions', (res, req) => this.asAdmin(res, req, 'partitions', () => this.json(res, '200 OK', { partitions: this.options.partitions() })));
    this.app.get('/v1/stats', (res, req) => this.stats(res, req));
    this.app.post(RELOAD_ROUTES_URL, (res, req) => this.reloadRoutes(res, req));
    this.app.any(RELOAD_ROUTES_URL, (res) => this.json(res, '405 Method Not Allowed', { error: 'METHOD_NOT_ALLOWED', message: 'use POST' }));
    // The dashboard's files are public (they hold no data); the page asks for its token.
    for (const [url, file] of loadDashboardAssets()) {
      this.app.get(url, (res) => {
        res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', file.contentType).writeHeader('cache-control', 'no-cache').end(file.body));
      });
    }
    this.app.any('/*', (res) => this.json(res, '404 Not Found', { error: 'NOT_FOUND' }));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      // Shared with the engine's other acceptors. The control thread made sure beforehand that no
      // other process holds the port: a second engine must fail, not silently share the traffic.
      // The native build takes (host, port, options, callback); the typings lack that overload.
      const listen = this.app.listen as unknown as (
        host: string,
        port: number,
        options: number,
        callback: (token: us_listen_socket | false) => void,
      ) => void;
      listen.call(this.app, this.options.host, this.options.port, SHARED_PORT, (token) => {
        if (token === false) {
          reject(new Error(`cannot listen on ${this.options.host}:${this.options.port} (in use or not an address of this host)`));
          return;
        }
        this.listenSocket = token;
        resolve(uws.us_socket_local_port(token));
      });
    });
  }

  /** Stops accepting connections; open sockets stay. */
  stopListening(): void {
    if (this.listenSocket !== null) uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
  }

  /** Closes every socket of the app at once (no close handshake). */
  closeApp(): void {
    this.stopListening();
    // Missing from this build's typings (LIBRARY-NOTES).
    (this.app as unknown as { close(): void }).close();
  }

  closeConnections(code: number, reason: string): void {
    for (const conn of [...this.connections]) conn.close(code, reason);
  }

  openConnections(): Iterable<Connection> {
    return this.connections;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Bytes queued for the open connections and not yet written to their sockets. */
  unsentBytes(): number {
    let bytes = 0;
    for (const conn of this.connections) bytes += conn.bufferedBytes();
    return bytes;
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: unknown): void {
    // req is valid only synchronously: what the upgrade needs is read before the token is checked.
    const headers: UpgradeHeaders = { key: req.getHeader('sec-websocket-key'), protocols: req.getHeader('sec-websocket-protocol'), extensions: req.getHeader('sec-websocket-extensions') };
    this.withToken(
      res,
      req,
      () => res.writeStatus('401 Unauthorized').end(),
      (granted) => this.acceptUpgrade(res, headers, context, granted),
    );
  }

  private acceptUpgrade(res: HttpResponse, headers: UpgradeHeaders, context: unknown, granted: GrantedOutcome): void {
    if (!this.ready) {
      res.writeStatus('503 Service Unavailable').end();
      return;
    }
    if (this.options.connectionSlots.full()) {
      this.log.warn({ connections: this.options.connectionSlots.total() }, 'upgrade refused: HUNT_MAX_CONNECTIONS reached');
      res.writeStatus('503 Service Unavailable').end('too many connections');
      return;
    }
    let protocol = '';
    let encoding: Encoding = 'json';
    for (const candidate of headers.protocols.split(',')) {
      const name = candidate.trim();
      const chosen = SUBPROTOCOLS[name];
      if (chosen !== undefined && Object.hasOwn(SUBPROTOCOLS, name)) {
        protocol = name;
        encoding = chosen;
        break;
      }
    }
    res.upgrade<SocketData>({ conn: null, encoding, granted }, headers.key, protocol, headers.extensions, context as never);
  }

  private open(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    const conn = new SocketConnection(this.nextConnectionId++, data.encoding, ws, data.granted.permissions, data.granted.credential);
    data.conn = conn;
    this.gate.grant(conn, data.granted);
    this.connections.add(conn);
    this.options.connectionSlots.take();
    conn.send({ op: 'welcome', v: 1, encoding: data.encoding, ...this.options.welcome, ...this.options.limits }, data.encoding, true);
  }

  private getKey(res: HttpResponse, req: HttpRequest): void {
    const url = req.getUrl();
    this.authenticate(res, req, (permissions) => this.answerKey(res, url, permissions));
  }

  private answerKey(res: HttpResponse, url: string, permissions: Permissions): void {
    let key: string;
    try {
      key = decodeURIComponent(url.slice(KEYS_PREFIX.length));
    } catch {
      return this.json(res, '400 Bad Request', { error: 'BAD_KEY', message: 'the key is not valid percent-encoded UTF-8' });
    }
    try {
      checkKey(key, this.options.limits, null, 'key');
    } catch (error) {
      return this.json(res, '400 Bad Request', { error: 'BAD_KEY', message: (error as ProtocolError).message });
    }
    if (!permissions.read.allows(key)) return this.forbidden(res, 'get', key, 'read');
    const partition = partitionOf(key, this.options.welcome.partitions);
    const owner = this.options.ownership.ownerOf(partition);
    // Another host applies the key's partition: the client reads it there (the same path and token).
    if (owner !== null) return this.notOwner(res, owner === undefined ? null : owner + url, notOwnerMessage(partition, `key ${JSON.stringify(key)}`, owner));
    try {
      const meta = readMeta(this.stores, key);
      if (meta === undefined) this.json(res, '404 Not Found', { error: 'NOT_FOUND', key });
      else this.json(res, '200 OK', meta);
    } catch (error) {
      this.log.error({ err: error }, 'reading a key failed');
      this.json(res, '503 Service Unavailable', { error: 'STORAGE', message: 'the key could not be read' });
    }
  }

  /** GET /v1/keys?prefix=&after=&limit= : a page of keys with their records, in key order. */
  private listKeys(res: HttpResponse, req: HttpRequest): void {
    const queryText = req.getQuery() ?? '';
    const credentials = { authorization: req.getHeader('authorization'), token: req.getQuery('token') ?? '' };
    this.authenticate(res, req, (permissions) => this.answerListing(res, queryText, permissions, credentials));
  }

  private answerListing(res: HttpResponse, queryText: string, permissions: Permissions, credentials: Credentials): void {
    let query: URLSearchParams;
    try {
      query = new URLSearchParams(queryText);
    } catch {
      return this.json(res, '400 Bad Request', { error: 'BAD_QUERY', message: 'the query string is not valid' });
    }
    const prefix = query.get('prefix') ?? '';
    const after = query.get('after');
    const limitText = query.get('limit');
    const limit = limitText === null ? DEFAULT_LIST_LIMIT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      return this.json(res, '400 Bad Request', { error: 'BAD_QUERY', message: `limit must be an integer from 1 to ${MAX_LIST_LIMIT}` });
    }
    for (const [name, value] of [['prefix', prefix], ['after', after ?? '']] as const) {
      if (Buffer.byteLength(value) > this.options.limits.maxKeyBytes || value.includes('\u0000') || !value.isWellFormed()) {
        return this.json(res, '400 Bad Request', { error: 'BAD_QUERY', message: `${name} must be valid Unicode without NUL, at most maxKeyBytes` });
      }
    }
    const scope = query.get('scope') ?? 'all';
    if (scope !== 'all' && scope !== 'local') return this.json(res, '400 Bad Request', { error: 'BAD_QUERY', message: 'scope must be all or local' });
    if (!permissions.read.covers(prefix)) return this.forbidden(res, 'list', prefix, 'read');
    const { ownership } = this.options;
    const { partitions } = this.options.welcome;
    let page: KeyPage;
    try {
      page = listKeys(this.stores, prefix, after, limit, ownership.clustered ? (key) => ownership.ownerOf(partitionOf(key, partitions)) === null : null);
    } catch (error) {
      this.log.error({ err: error }, 'listing keys failed');
      return this.json(res, '503 Service Unavailable', { error: 'STORAGE', message: 'the keys could not be read' });
    }
    const others = scope === 'local' ? [] : ownership.otherHosts();
    if (others === undefined) return this.notOwner(res, null, 'some partitions have no host right now (the hosts are rebalancing): retry shortly');
    if (others.length === 0) return this.json(res, '200 OK', page);
    let aborted = false;
    res.onAborted(() => (aborted = true));
    pagesOfHosts(others, { prefix, after, limit }, credentials).then(
      (pages) => !aborted && this.json(res, '200 OK', mergePages([page, ...pages], limit)),
      (error: Error) => {
        if (!(error instanceof ListingUnavailable)) this.log.error({ err: error }, 'listing keys across hosts failed');
        if (!aborted) this.retryLater(res, 'HOST_UNAVAILABLE', error.message);
      },
    );
  }

  private metrics(res: HttpResponse, req: HttpRequest): void {
    this.collected(res, req, 'metrics', this.options.metrics, (text) =>
      res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8').end(text)),
    );
  }

  private stats(res: HttpResponse, req: HttpRequest): void {
    this.collected(res, req, 'stats', this.options.stats, (body) => this.json(res, '200 OK', body));
  }

  /** Answers with what `collect` (null: metrics off) produces asynchronously, unless the client went away. */
  private collected<T>(res: HttpResponse, req: HttpRequest, op: string, collect: (() => Promise<T>) | null, answer: (value: T) => void): void {
    this.asAdmin(res, req, op, () => {
      if (collect === null) return this.json(res, '404 Not Found', { error: 'NOT_FOUND', message: 'metrics are off (HUNT_METRICS=off)' });
      this.answerLater(res, collect(), answer, 'collecting metrics failed');
    });
  }

  /** Answers with what `work` resolves to (500 if it fails), unless the client went away meanwhile. */
  private answerLater<T>(res: HttpResponse, work: Promise<T>, answer: (value: T) => void, failure: string): void {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    work.then(
      (value) => {
        if (!aborted) answer(value);
      },
      (error: Error) => {
        this.log.error({ err: error }, failure);
        if (!aborted) this.json(res, '500 Internal Server Error', { error: 'INTERNAL' });
      },
    );
  }

  /**
   * An admin action, so it needs a token even where the rest is open: without HUNT_AUTH_TOKENS it
   * answers 403 (SIGHUP still reloads).
   */
  private reloadRoutes(res: HttpResponse, req: HttpRequest): void {
    if (!this.gate.enabled) return this.json(res, '403 Forbidden', { error: 'FORBIDDEN', message: 'the admin endpoints need a token (HUNT_AUTH_TOKENS, HUNT_AUTH_FILE or a JWT); use SIGHUP to reload without them' });
    this.asAdmin(res, req, 'reload-routes', () => this.answerLater(res, this.options.reloadRoutes('http'), (reload) => this.answerReload(res, reload), 'routes reload failed'));
  }

  private answerReload(res: HttpResponse, reload: RoutesReload): void {
    switch (reload.outcome) {
      case 'reloaded':
        return this.json(res, '200 OK', { reloaded: true, file: reload.file, routes: reload.routes });
      case 'invalid':
        return this.json(res, '422 Unprocessable Entity', { error: 'INVALID_ROUTES', message: 'the file is invalid; the previous routes stay', file: reload.file, problems: reload.problems });
      case 'no-file':
        return this.json(res, '409 Conflict', { error: 'NO_ROUTES', message: 'HUNT_ROUTES is not set: there is no routes file to reload' });
    }
  }

  /**
   * Runs `then` with what the request's token grants, at once or, for a JWT, once it is verified
   * (`then` must not touch `req` then); `refuse` answers a token that grants nothing.
   */
  private withToken(res: HttpResponse, req: HttpRequest, refuse: () => void, then: (granted: GrantedOutcome) => void): void {
    const outcome = this.gate.check(Authenticator.presented(req.getHeader('authorization'), req.getQuery('token') ?? ''));
    if (!(outcome instanceof Promise)) {
      if (outcome.ok) then(outcome);
      else refuse();
      return;
    }
    let aborted = false;
    res.onAborted(() => (aborted = true));
    outcome.then(
      (checked) => {
        if (!aborted) res.cork(() => (checked.ok ? then(checked) : refuse()));
      },
      (error: Error) => {
        this.log.error({ err: error }, 'checking a token failed');
        if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end());
      },
    );
  }

  /** withToken for an HTTP endpoint: 401 with a JSON body. */
  private authenticate(res: HttpResponse, req: HttpRequest, then: (permissions: Permissions) => void): void {
    this.withToken(res, req, () => this.json(res, '401 Unauthorized', { error: 'UNAUTHORIZED' }), (granted) => then(granted.permissions));
  }

  /** An admin endpoint: 403 unless the token has the admin scope. */
  private asAdmin(res: HttpResponse, req: HttpRequest, op: string, then: () => void): void {
    this.authenticate(res, req, (permissions) => (permissions.admin ? then() : this.forbidden(res, op, null, 'admin')));
  }

  private forbidden(res: HttpResponse, op: string, key: string | null, scope: 'read' | 'admin'): void {
    this.json(res, '403 Forbidden', { error: 'FORBIDDEN', op, ...(key === null ? {} : { key }), message: forbiddenMessage(op, key, scope) });
  }

  /** A redirect to the host that applies a key's partition; a 503 to retry while none does. */
  private notOwner(res: HttpResponse, location: string | null, message: string): void {
    if (location === null) return this.retryLater(res, ErrorCode.NOT_OWNER, message);
    res.cork(() => res.writeStatus('307 Temporary Redirect').writeHeader('location', location).writeHeader('content-type', 'application/json').end(JSON.stringify({ error: ErrorCode.NOT_OWNER, message })));
  }

  /** 503 with Retry-After: the hosts are between states (a rebalance, a host not answering). */
  private retryLater(res: HttpResponse, error: string, message: string): void {
    res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('retry-after', '1').writeHeader('content-type', 'application/json').end(JSON.stringify({ error, message })));
  }

  private json(res: HttpResponse, status: string, body: unknown): void {
    res.cork(() => {
      res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
    });
  }
}
