// A replay of a partition's event log (or one key's events) as an async iterator: pages from an
// offset to the log's end, or with `follow` an endless stream that its client starts again after
// each reconnect from the last `next` it received, so every event comes once, in order.
import type { ReplayedEvent } from '../shared/wire.js';

export type { ReplayedEvent };

export interface ReplayOptions {
  /** The partition whose log to read; give this or `key`. */
  partition?: number;
  /** Only this key's events (asked of the host that applies it); give this or `partition`. */
  key?: string;
  /** The first offset; default 0. */
  from?: number;
  /** Events per page (1–1000); default 100. */
  limit?: number;
  /** Go on past the log's end with each newly committed event, until closed; default false. */
  follow?: boolean;
}

/** What a replay needs of its client. */
export interface ReplayTransport {
  /** Asks for one page where the partition is applied. */
  page(message: Record<string, unknown>): Promise<{ events: ReplayedEvent[]; next: number | null }>;
  /** Starts the follow (and again on each new connection, from `position`). */
  follow(stream: ReplayStream): void;
  /** Ends the follow on the engine. */
  unfollow(stream: ReplayStream): Promise<void>;
}

export class ReplayStream implements AsyncIterableIterator<ReplayedEvent> {
  /** Where the next page or the resumed follow starts; null once a paged replay has reached the log's end. */
  position: number | null;
  private readonly buffered: ReplayedEvent[] = [];
  private failure: Error | null = null;
  private started = false;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly options: ReplayOptions,
    /** The connection it runs on; another host's once a followed partition moved there. */
    private transport: ReplayTransport,
  ) {
    if ((options.partition === undefined) === (options.key === undefined)) throw new TypeError('replay: give exactly one of partition and key');
    this.position = options.from ?? 0;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<ReplayedEvent, undefined>> {
    if (this.options.follow !== true) return this.nextPaged();
    if (!this.started && !this.closed) {
      this.started = true;
      this.transport.follow(this);
    }
    while (this.buffered.length === 0) {
      if (this.failure !== null) throw this.failure;
      if (this.closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return { done: false, value: this.buffered.shift()! };
  }

  /** Called when a `for await` loop ends early: the follow ends. */
  async return(): Promise<IteratorResult<ReplayedEvent, undefined>> {
    await this.close();
    return { done: true, value: undefined };
  }

  /** Ends the replay (a follow is ended on the engine too); the iterator then ends. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeUp();
    if (this.started) await this.transport.unfollow(this);
  }

  /** A follow that runs: started, and neither closed nor ended. */
  get running(): boolean {
    return this.started && !this.closed && this.failure === null;
  }

  /**
   * The engine's own position of the follow, when it ended it: past what it sent, and for a key's
   * follow past the other keys' entries too (which the new owner's log may no longer hold).
   */
  skipTo(next: number): void {
    if (this.position !== null && next > this.position) this.position = next;
  }

  /** The follow goes on over another connection (its partition's new host). */
  moveTo(transport: ReplayTransport): void {
    this.transport = transport;
  }

  /** The `replay` request from the current position (the client adds the id). */
  message(): Record<string, unknown> {
    const { partition, key, limit = 100, follow = false } = this.options;
    return { op: 'replay', ...(key === undefined ? { partition } : { key }), from: this.position, limit, ...(follow ? { follow: true } : {}) };
  }

  /** A follow's `events` message. */
  received(events: ReplayedEvent[], next: number): void {
    for (const event of events) this.buffered.push(event);
    this.position = next;
    this.wakeUp();
  }

  /** The follow ended on the engine's side (or the client's): the iterator throws `error` after the events before it. */
  end(error: Error): void {
    this.failure ??= error;
    this.wakeUp();
  }

  private async nextPaged(): Promise<IteratorResult<ReplayedEvent, undefined>> {
    while (this.buffered.length === 0) {
      if (this.position === null || this.closed) return { done: true, value: undefined };
      const page = await this.transport.page(this.message());
      for (const event of page.events) this.buffered.push(event);
      this.position = page.next;
    }
    return { done: false, value: this.buffered.shift()! };
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
