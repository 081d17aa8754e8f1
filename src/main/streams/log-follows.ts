// `replay` with `follow`: the engine streams a partition's log (or one key's events in it) from an
// offset, page by page, and then live, to a consumer that must see every event once, in order.
//
// Followers read the committed log, never the rings: after a worker reports a commit, each
// follow of a partition that worker owns reads the log from where it stopped. So a follow has no
// gap and no duplicate by construction (its position only moves past entries it has sent), it
// survives worker restarts, and it costs nothing while nobody follows. A slow consumer is paused
// (not dropped) while its connection has more than `maxBufferedBytes` unsent, and resumed from its
// position when the socket drains; if the retention removes that position meanwhile, it gets
// OUT_OF_RANGE with the earliest offset held and the follow ends. A key's follow is told its
// position as it passes other keys' entries (at most once a second), so a quiet key's consumer does
// not resume at offsets long gone. In cluster mode a follow of a partition that goes to another
// host ends with NOT_OWNER naming it and the follow's position (the log goes on there).
//
// Seen here with uWS 20.30: a message sent from inside the `drain` callback that does not fit the
// socket stays in uWS's buffer and is never written (no further drain either). So sends never
// happen in that callback: it only schedules the pump, and paused follows are also retried on a
// timer in case a drain event is missed.
import type { Logger } from '../../shared/logger.js';
import type { StoreSet } from '../../shared/store.js';
import { INTEREST_COMMITS } from '../../shared/interest.js';
import type { Connection } from '../connections/connection.js';
import { errorMessage } from '../connections/protocol.js';
import { ErrorCode, ProtocolError, type Encoding, type ReplayMessage, type ReplayedEvent } from '../../shared/wire.js';
import { replayPage } from './replay.js';

/** How often paused follows are retried when no drain event comes. */
const PAUSED_RETRY_MS = 100;
/** How often at most a key's follow is told that its position moved past other keys' entries. */
const PROGRESS_MS = 1000;

interface Follow {
  readonly conn: Connection;
  readonly id: number;
  readonly partition: number;
  readonly key: string | null;
  readonly limit: number;
  readonly encoding: Encoding;
  /** The next offset to send from. */
  next: number;
  /** The `next` the consumer was last sent, and when. */
  told: number;
  toldAt: number;
}

export interface FollowLimits {
  /** Follows one connection may hold. */
  maxPerConnection: number;
  /** Unsent bytes on a connection past which its follows wait for the socket to drain. */
  maxBufferedBytes: number;
}

export class LogFollows {
  /** Per worker, the partitions it owns that have follows, and their follows. */
  private readonly byWorker: Map<number, Set<Follow>>[];
  private readonly byConnection = new Map<Connection, Map<number, Follow>>();
  /** Follows waiting for their connection's unsent bytes to go down. */
  private readonly paused = new Set<Follow>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** Key follows whose consumer's `next` is behind theirs, to be told within PROGRESS_MS. */
  private readonly behind = new Set<Follow>();
  private progressTimer: NodeJS.Timeout | null = null;

  /** This acceptor's interest flags: COMMITS is set while it runs follows. */
  private readonly interest: Uint8Array;

  constructor(
    private readonly stores: StoreSet,
    interest: SharedArrayBuffer,
    workers: number,
    private readonly workerOf: (partition: number) => number,
    private readonly limits: FollowLimits,
    private readonly log: Logger,
  ) {
    this.byWorker = Array.from({ length: workers }, () => new Map());
    this.interest = new Uint8Array(interest);
  }

  get size(): number {
    let count = 0;
    for (const follows of this.byConnection.values()) count += follows.size;
    return count;
  }

  /**
   * Starts a follow (called inside the uWS callback of its `replay` frame): acks it, then sends
   * what the log holds from `from`. Throws a ProtocolError (nothing started) if the offset is gone,
   * the id is in use on this connection or the connection holds too many follows.
   */
  start(conn: Connection, replay: ReplayMessage, encoding: Encoding): void {
    let own = this.byConnection.get(conn);
    if (own?.has(replay.id)) throw new ProtocolError(ErrorCode.BAD_FRAME, `replay: a follow with id ${replay.id} is already running on this connection`, replay.id);
    if ((own?.size ?? 0) >= this.limits.maxPerConnection) {
      throw new ProtocolError(ErrorCode.TOO_LARGE, 'more follows than HUNT_MAX_SUBSCRIPTIONS allows on one connection', replay.id);
    }
    // The first page checks that `from` is still held before anything is registered.
    const first = replayPage(this.stores.ofPartition(replay.partition), replay.partition, replay.from, replay.limit, replay.key, replay.id);
    const follow: Follow = { conn, id: replay.id, partition: replay.partition, key: replay.key, limit: replay.limit, encoding, next: first.resume, told: replay.from, toldAt: Date.now() };
    if (own === undefined) this.byConnection.set(conn, (own = new Map()));
    own.set(follow.id, follow);
    Atomics.store(this.interest, INTEREST_COMMITS, 1);
    const partitions = this.byWorker[this.workerOf(follow.partition)]!;
    let follows = partitions.get(follow.partition);
    if (follows === undefined) partitions.set(follow.partition, (follows = new Set()));
    follows.add(follow);
    conn.send({ op: 'ack', id: follow.id }, encoding, true);
    if (first.events.length > 0) this.sendEvents(follow, first.events, true);
    if (first.more) this.pump(follow, true);
  }

  /** Ends a follow; false if the connection has none with that id. */
  stop(conn: Connection, id: number): boolean {
    const own = this.byConnection.get(conn);
    const follow = own?.get(id);
    if (own === undefined || follow === undefined) return false;
    own.delete(id);
    if (own.size === 0) this.byConnection.delete(conn);
    if (this.byConnection.size === 0) Atomics.store(this.interest, INTEREST_COMMITS, 0);
    const partitions = this.byWorker[this.workerOf(follow.partition)]!;
    const follows = partitions.get(follow.partition)!;
    follows.delete(follow);
    if (follows.size === 0) partitions.delete(follow.partition);
    this.paused.delete(follow);
    this.behind.delete(follow);
    return true;
  }

  /** Ends the follows of the partitions `movedTo` gives a host for, with NOT_OWNER naming it. */
  endMoved(movedTo: (partition: number) => string | undefined): void {
    for (const [conn, own] of [...this.byConnection]) {
      for (const follow of [...own.values()]) {
        const owner = movedTo(follow.partition);
        if (owner === undefined) continue;
        this.stop(conn, follow.id);
        const what = follow.key === null ? `the follow of partition ${follow.partition}` : `the follow of key ${JSON.stringify(follow.key)}`;
        const message = `${what} ended: partition ${follow.partition} is applied by the host at ${owner} now; follow it there from offset ${follow.next}`;
        // `next` is past every entry sent, and for a key's follow past the other keys' entries too,
        // which the consumer has not seen: resuming there needs nothing the new owner's log lacks.
        if (!conn.closed) conn.send({ ...errorMessage(new ProtocolError(ErrorCode.NOT_OWNER, message, follow.id, undefined, owner)), next: follow.next }, follow.encoding, false);
      }
    }
  }

  removeConnection(conn: Connection): void {
    const own = this.byConnection.get(conn);
    if (own !== undefined) for (const id of [...own.keys()]) this.stop(conn, id);
  }

  /** A worker committed: its partitions' follows read what is new (outside any uWS callback). */
  onCommitted(worker: number): void {
    const partitions = this.byWorker[worker]!;
    if (partitions.size === 0) return;
    for (const [partition, follows] of partitions) {
      const applied = this.stores.appliedOffset(partition);
      for (const follow of follows) if (follow.next <= applied) this.pump(follow, false);
    }
  }

  /** The connection's socket drained (called inside the uWS drain callback): its follows go on soon. */
  onDrain(conn: Connection): void {
    if (this.byConnection.has(conn)) setImmediate(() => this.resume(conn));
  }

  private resume(conn: Connection): void {
    const own = this.byConnection.get(conn);
    if (own !== undefined) for (const follow of [...own.values()]) if (this.paused.has(follow)) this.pump(follow, false);
  }

  private pump(follow: Follow, corked: boolean): void {
    const { conn } = follow;
    try {
      while (!conn.closed) {
        if (conn.bufferedBytes() >= this.limits.maxBufferedBytes) return this.pause(follow);
        const page = replayPage(this.stores.ofPartition(follow.partition), follow.partition, follow.next, follow.limit, follow.key, follow.id);
        follow.next = page.resume;
        if (page.events.length > 0) this.sendEvents(follow, page.events, corked);
        if (!page.more) break;
      }
      this.paused.delete(follow);
      if (follow.next !== follow.told) this.tellProgress(follow, corked);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      // The retention overtook a paused follow: say where the log starts now, and end it.
      this.log.info({ conn: conn.id, id: follow.id, partition: follow.partition, next: follow.next }, 'follow overtaken by the log retention; ended');
      conn.send(errorMessage(error), follow.encoding, corked);
      this.stop(conn, follow.id);
    }
  }

  private pause(follow: Follow): void {
    this.paused.add(follow);
    this.retryTimer ??= setInterval(() => {
      for (const paused of [...this.paused]) this.pump(paused, false);
      if (this.paused.size === 0) {
        clearInterval(this.retryTimer!);
        this.retryTimer = null;
      }
    }, PAUSED_RETRY_MS).unref();
  }

  /**
   * A key's follow moves past the other keys' entries without sending anything: its consumer is
   * told its `next` anyway (an `events` message with none), at most once per PROGRESS_MS, so that
   * resuming after a reconnect does not ask for entries the retention has removed since.
   */
  private tellProgress(follow: Follow, corked: boolean): void {
    if (Date.now() - follow.toldAt >= PROGRESS_MS) return this.sendEvents(follow, [], corked);
    this.behind.add(follow);
    this.progressTimer ??= setTimeout(() => {
      this.progressTimer = null;
      for (const late of this.behind) if (!late.conn.closed && late.next !== late.told) this.sendEvents(late, [], false);
      this.behind.clear();
    }, PROGRESS_MS).unref();
  }

  private sendEvents(follow: Follow, events: ReplayedEvent[], corked: boolean): void {
    follow.conn.send({ op: 'events', id: follow.id, partition: follow.partition, events, next: follow.next }, follow.encoding, corked);
    follow.told = follow.next;
    follow.toldAt = Date.now();
  }
}
