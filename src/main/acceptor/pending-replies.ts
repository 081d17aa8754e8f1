// Requests across a thread boundary (control ↔ acceptor): each gets an id, and its promise settles
// when the reply with that id comes back, or is rejected when the other thread ends first.
export class PendingReplies {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  /** Sends a request under a fresh id (with `send`) and resolves with its reply. */
  ask<T>(send: (id: number) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      send(id);
    });
  }

  /** The reply to request `id`: its value, or why it failed. */
  settle(reply: Reply): void {
    const pending = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.error === undefined) pending?.resolve(reply.value);
    else pending?.reject(new Error(reply.error));
  }

  /** The other side is gone: no reply will come. */
  rejectAll(error: Error): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}

export interface Reply {
  id: number;
  value: unknown;
  /** Set when the request failed. */
  error?: string;
}

/** The reply `work` settles to, for request `id`. */
export function replyOf(id: number, work: Promise<unknown>): Promise<Reply> {
  return work.then(
    (value) => ({ id, value }),
    (error: Error) => ({ id, value: null, error: error.message }),
  );
}
