// Protocol semantics of one client frame: decode, dispatch by op, answer errors in the encoding of
// the frame. The policy for bad input is to answer with an error frame and keep the connection:
// one bad frame never costs a client its other pubs in flight.
import type { Ownership } from '../cluster/ownership.js';
import type { Logger } from '../../shared/logger.js';
import { readMeta, type StoreSet } from '../../shared/store.js';
import type { Connection } from './connection.js';
import type { Ingest } from '../ingest/ingest.js';
import type { Producer, ProducerRegistry } from '../ingest/producers.js';
import type { ProducerClaim } from '../acceptor/acceptor-messages.js';
import { FLOODING_CLOSE_CODE } from '../ingest/ingest.js';
import { decodeFrame, errorMessage } from './protocol.js';
import { ErrorCode, ProtocolError, type Encoding, type Limits } from '../../shared/wire.js';
import type { SubscriptionRegistry } from '../streams/subscriptions.js';
import type { LogFollows } from '../streams/log-follows.js';
import { missedEntries, replayPage } from '../streams/replay.js';
import { partitionOf } from '../../shared/partition.js';
import { isPlainObject } from '../../shared/event-checks.js';
import { checkAuth, checkGet, checkHello, checkReplay, checkSub, checkUnfollow, requestId } from '../ingest/validate.js';
import type { AuthGate } from '../auth/auth-gate.js';
import type { AuthOutcome } from '../auth/authenticator.js';
import { requireRead, requireReadAll, requireReadPrefix, requireSomePub } from '../auth/scope-checks.js';

export class MessageHandler {
  constructor(
    private readonly ingest: Ingest,
    private readonly producers: ProducerRegistry,
    private readonly subscriptions: SubscriptionRegistry,
    private readonly follows: LogFollows,
    private readonly stores: StoreSet,
    private readonly limits: Limits,
    /** Partitions, and whether the event log is kept (HUNT_LOG_RETENTION_EVENTS > 0). */
    private readonly eventLog: { partitions: number; enabled: boolean },
    /** Asks the control thread for a producer this acceptor does not hold. */
    private readonly claimProducer: (name: string) => Promise<ProducerClaim>,
    private readonly gate: AuthGate,
    /** Cluster mode: reads of a key go to the host that applies its partition. */
    private readonly ownership: Ownership,
    private readonly log: Logger,
  ) {}

  /** Told the code of every error frame sent (for metrics). */
  onError: (code: ErrorCode) => void = () => {};

  onFrame(conn: Connection, frame: ArrayBuffer, isBinary: boolean): void {
    if (conn.waitingFrames !== null) {
      this.holdUntilHelloAnswered(conn, frame, isBinary);
      return;
    }
    const encoding: Encoding = isBinary ? 'msgpack' : 'json';
    conn.frames++;
    try {
      // Most frames are plainly valid MessagePack pubs: taken from their bytes without decoding.
      if (isBinary && frame.byteLength <= this.limits.maxPayloadBytes && this.ingest.pubFromFrame(conn, Buffer.from(frame), encoding)) return;
      // Frames up to twice the limit (uWS drops bigger ones) are still decoded, so that the
      // TOO_LARGE answer can name the request id; that costs no more than a valid frame.
      const message = decodeFrame(frame, isBinary);
      if (frame.byteLength > this.limits.maxPayloadBytes) {
        throw new ProtocolError(
          ErrorCode.TOO_LARGE,
          `frame of ${frame.byteLength} bytes exceeds maxPayloadBytes ${this.limits.maxPayloadBytes}`,
          isPlainObject(message) ? requestId(message) : null,
        );
      }
      if (!isPlainObject(message)) throw new ProtocolError(ErrorCode.BAD_FRAME, 'a message must be a map with an "op" field');
      this.dispatch(conn, message, encoding);
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.onError(error.code);
        conn.send(errorMessage(error), encoding, true);
        return;
      }
      this.log.error({ err: error, conn: conn.id }, 'internal error handling a frame');
      this.onError(ErrorCode.INTERNAL);
      conn.send({ op: 'error', id: null, code: ErrorCode.INTERNAL, message: 'internal error; the message was not applied' }, encoding, true);
    }
  }

  private dispatch(conn: Connection, message: Record<string, unknown>, encoding: Encoding): void {
    switch (message.op) {
      case 'pub':
        this.ingest.pub(conn, message, encoding);
        return;
      case 'get': {
        const get = checkGet(message, this.limits);
        requireRead(conn.permissions, 'get', get.key, get.id);
        this.ownership.requireHere(partitionOf(get.key, this.eventLog.partitions), `key ${JSON.stringify(get.key)}`, get.id);
        conn.send({ op: 'meta', id: get.id, key: get.key, meta: readMeta(this.stores, get.key) ?? null }, encoding, true);
        return;
      }
      case 'hello':
        this.hello(conn, message, encoding);
        return;
      case 'sub':
        this.sub(conn, message, encoding);
        return;
      case 'replay': {
        const replay = checkReplay(message, this.limits, this.eventLog.partitions);
        if (replay.key === null) requireReadAll(conn.permissions, 'replay of a partition', replay.id);
        else requireRead(conn.permissions, 'replay', replay.key, replay.id);
        this.ownership.requireHere(replay.partition, replay.key === null ? 'the replay' : `key ${JSON.stringify(replay.key)}`, replay.id);
        if (!this.eventLog.enabled) throw new ProtocolError(ErrorCode.UNSUPPORTED, 'the event log is off (HUNT_LOG_RETENTION_EVENTS=0)', replay.id);
        if (replay.follow) {
          this.follows.start(conn, replay, encoding);
          return;
        }
        const page = replayPage(this.stores.ofPartition(replay.partition), replay.partition, replay.from, replay.limit, replay.key, replay.id);
        conn.send({ op: 'events', id: replay.id, partition: replay.partition, events: page.events, next: page.more ? page.resume : null }, encoding, true);
        return;
      }
      case 'unfollow': {
        const unfollow = checkUnfollow(message);
        if (!this.follows.stop(conn, unfollow.replay)) {
          throw new ProtocolError(ErrorCode.BAD_FRAME, `unfollow: no follow with replay id ${unfollow.replay} on this connection`, unfollow.id);
        }
        conn.send({ op: 'ack', id: unfollow.id }, encoding, true);
        return;
      }
      case 'auth':
        this.auth(conn, message, encoding);
        return;
      case 'unsub': {
        const unsub = checkSub(message, this.limits);
        this.subscriptions.unsubscribe(conn, unsub.keys, unsub.prefixes);
        conn.send({ op: 'ack', id: unsub.id }, encoding, true);
        return;
      }
      default:
        throw new ProtocolError(
          ErrorCode.BAD_FRAME,
          `unknown op ${JSON.stringify(typeof message.op === 'string' ? message.op : String(message.op))}; expected pub, get, hello, sub, unsub, replay, unfollow or auth`,
          requestId(message),
        );
    }
  }

  /**
   * Replaces the connection's token: its permissions and expiry become the new token's. A refused
   * token changes nothing (the old one still expires when it does). Frames that come while a JWT
   * is checked are handled, in order, after the answer.
   */
  private auth(conn: Connection, message: Record<string, unknown>, encoding: Encoding): void {
    const auth = checkAuth(message);
    const answer = (outcome: AuthOutcome) => {
      if (outcome.ok) {
        this.gate.grant(conn, outcome);
        conn.send({ op: 'ack', id: auth.id }, encoding, true);
      } else {
        this.onError(ErrorCode.UNAUTHORIZED);
        conn.send({ op: 'error', id: auth.id, code: ErrorCode.UNAUTHORIZED, message: `auth: ${outcome.reason}; the connection keeps its previous token` }, encoding, true);
      }
    };
    const outcome = this.gate.check(auth.token);
    if (!(outcome instanceof Promise)) return answer(outcome);
    this.holdFramesUntil(
      conn,
      outcome,
      (checked) => {
        if (!conn.closed) conn.cork(() => answer(checked));
      },
      {},
      'checking a token failed',
      'the token could not be checked; reconnect',
    );
  }

  /**
   * Holds the connection's next frames while `work` runs (a JWT's check, a producer's claim): once
   * it resolves, `then` answers and the held frames are handled in order. If it fails, the
   * connection is closed (1011) with `closeReason`.
   */
  private holdFramesUntil<T>(conn: Connection, work: Promise<T>, then: (value: T) => void, logFields: object, failure: string, closeReason: string): void {
    conn.waitingFrames = [];
    work.then(
      (value) => {
        then(value);
        this.handleWaitingFrames(conn);
      },
      (error: Error) => {
        this.log.error({ err: error, conn: conn.id, ...logFields }, failure);
        conn.waitingFrames = null;
        conn.close(1011, closeReason);
      },
    );
  }

  onClose(conn: Connection): void {
    this.producers.detach(conn);
    this.subscriptions.removeConnection(conn);
    this.follows.removeConnection(conn);
  }

  onDrain(conn: Connection): void {
    this.follows.onDrain(conn);
  }

  /**
   * Subscribes, acks, then sends each subscribed key's current record as an `update` (read after
   * the subscription took effect: see subscriptions.ts). Prefix subscriptions get changes only.
   *
   * With `from` (the version of its one key the subscriber last saw), the ack says whether what it
   * missed could be `recovered` from the event log; if so, a `missed` message with those events
   * (versions from+1 up to the snapshot's) comes before the snapshot. If not, the snapshot alone
   * is the subscriber's new starting point.
   */
  private sub(conn: Connection, message: Record<string, unknown>, encoding: Encoding): void {
    const sub = checkSub(message, this.limits);
    for (const key of sub.keys) requireRead(conn.permissions, 'sub', key, sub.id);
    for (const key of sub.keys) this.ownership.requireHere(partitionOf(key, this.eventLog.partitions), `key ${JSON.stringify(key)}`, sub.id);
    for (const prefix of sub.prefixes) requireReadPrefix(conn.permissions, 'sub', prefix, sub.id);
    if (!this.subscriptions.subscribe(conn, sub.keys, sub.prefixes)) {
      throw new ProtocolError(ErrorCode.TOO_LARGE, 'more subscriptions than HUNT_MAX_SUBSCRIPTIONS allows on one connection', sub.id);
    }
    if (sub.from !== null) {
      const key = sub.keys[0]!;
      const meta = readMeta(this.stores, key);
      const partition = partitionOf(key, this.eventLog.partitions);
      const missed = this.eventLog.enabled ? missedEntries(this.stores.ofPartition(partition), partition, key, sub.from, meta?.version ?? 0) : null;
      conn.send({ op: 'ack', id: sub.id, recovered: missed !== null }, encoding, true);
      if (missed !== null) conn.send({ op: 'missed', key, events: missed }, encoding, true);
      if (meta !== undefined) conn.send({ op: 'update', key, meta }, encoding, true);
      return;
    }
    // Cluster mode: a prefix spans every host's partitions; the ack names the hosts to subscribe it at too.
    const spread = sub.prefixes.length > 0 ? this.ownership.prefixHosts() : null;
    conn.send(spread === null ? { op: 'ack', id: sub.id } : { op: 'ack', id: sub.id, ...spread }, encoding, true);
    for (const key of sub.keys) {
      const meta = readMeta(this.stores, key);
      if (meta !== undefined) conn.send({ op: 'update', key, meta }, encoding, true);
    }
  }

  private hello(conn: Connection, message: Record<string, unknown>, encoding: Encoding): void {
    const hello = checkHello(message);
    requireSomePub(conn.permissions, hello.id);
    if (conn.frames !== 1) {
      throw new ProtocolError(ErrorCode.BAD_FRAME, 'hello must be the first message of a connection', hello.id);
    }
    const held = this.producers.attach(hello.producer, conn, Date.now());
    if (held !== null) {
      this.answerHello(conn, held, hello.id, encoding);
      return;
    }
    // Held by another acceptor, or by none yet: claimed from the control thread first. Frames that
    // come meanwhile are handled, in order, once the hello is answered.
    this.holdFramesUntil(
      conn,
      this.claimProducer(hello.producer),
      (claim) => {
        if (claim.outcome === 'granted') {
          this.producers.adopt(hello.producer, claim.marks, Date.now());
          if (!conn.closed) conn.cork(() => this.answerHello(conn, this.producers.attach(hello.producer, conn, Date.now())!, hello.id, encoding));
        } else {
          this.onError(ErrorCode.OVERLOADED);
          conn.send({ op: 'error', id: hello.id, code: ErrorCode.OVERLOADED, message: 'the engine knows as many producers as HUNT_MAX_PRODUCERS allows; retry later' }, encoding, false);
        }
      },
      { producer: hello.producer },
      'claiming a producer failed',
      'the producer could not be claimed; reconnect and say hello again',
    );
  }

  /** Makes `conn` the producer and acks its hello with the highest seq taken from it. */
  private answerHello(conn: Connection, producer: Producer, id: number | null, encoding: Encoding): void {
    conn.producer = producer;
    // The highest seq taken from this producer, so a producer process that starts afresh (with no
    // pubs of its own to re-send) can number its pubs above it instead of having them taken for re-sends.
    let seq = 0;
    for (const taken of producer.seqs) if (taken > seq) seq = taken;
    if (id !== null) conn.send({ op: 'ack', id, seq }, encoding, true);
  }

  /** A frame that came before the connection's hello or auth was answered: kept (copied: uWS reuses it) for later. */
  private holdUntilHelloAnswered(conn: Connection, frame: ArrayBuffer, isBinary: boolean): void {
    const waiting = conn.waitingFrames!;
    if (waiting.length >= this.limits.maxInFlight) {
      conn.close(FLOODING_CLOSE_CODE, 'flooding: sent more than maxInFlight frames before its hello was answered');
      return;
    }
    waiting.push({ frame: frame.slice(0), isBinary });
  }

  private handleWaitingFrames(conn: Connection): void {
    const waiting = conn.waitingFrames ?? [];
    conn.waitingFrames = null;
    if (conn.closed || waiting.length === 0) return;
    conn.cork(() => {
      for (const { frame, isBinary } of waiting) this.onFrame(conn, frame, isBinary);
    });
  }
}
