// The control thread's hold on one acceptor thread: starts it, waits until it listens, and turns
// the acceptor's calls into messages (acceptor/acceptor-messages.ts).
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/logger.js';
import type { AcceptorReplies, AcceptorRequest, AcceptorThreadData, FromAcceptor, ToAcceptor } from '../acceptor/acceptor-messages.js';

const ACCEPTOR_FILE = fileURLToPath(new URL('../acceptor/acceptor-thread.js', import.meta.url));

export class AcceptorHandle {
  private nextId = 1;
  /** Set once the control thread asked it to end: its exit is then expected. */
  private closing = false;
  /** Set once the thread has ended. */
  ended = false;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  /** Resolves with the thread's exit code once it has ended. */
  readonly exited: Promise<number>;

  private constructor(
    private readonly thread: Worker,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) =>
      thread.once('exit', (code) => {
        this.ended = true;
        for (const { reject } of this.pending.values()) reject(new Error(`acceptor thread ended with ${code} before it answered`));
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  /**
   * Starts acceptor thread `data.acceptor` and resolves once it listens; rejects with the reason
   * it could not. `onFatal` hears of faults the acceptor reports; `onCrash` of the thread ending
   * unasked (it closed its sockets first).
   */
  static start(data: AcceptorThreadData, log: Logger, onFatal: (error: Error) => void, onCrash: (code: number) => void): Promise<AcceptorHandle> {
    const thread = new Worker(ACCEPTOR_FILE, { workerData: data, execArgv: process.execArgv });
    return new Promise((resolve, reject) => {
      let handle: AcceptorHandle | null = null;
      thread.on('message', (message: FromAcceptor) => {
        switch (message.op) {
          case 'listening':
            handle = new AcceptorHandle(thread, message.port);
            return resolve(handle);
          case 'listen-failed':
            return reject(new Error(message.message));
          case 'reply':
            handle?.settle(message.id, message.value);
            return;
          case 'fatal':
            return onFatal(new Error(message.message));
        }
      });
      thread.on('error', (error) => {
        log.error({ err: error, acceptor: data.acceptor }, 'acceptor thread error');
        if (handle === null) reject(error);
      });
      thread.on('exit', (code) => {
        if (handle === null) reject(new Error(`acceptor thread ${data.acceptor} ended with ${code} before it listened`));
        else if (!handle.closing) onCrash(code);
      });
    });
  }

  /** Asks the acceptor; rejects if its thread ends first. */
  request<R extends AcceptorRequest>(request: R): Promise<AcceptorReplies[R['op']]> {
    if (this.ended) return Promise.reject(new Error('the acceptor thread has ended'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.send({ op: 'request', id, request });
    });
  }

  send(message: ToAcceptor): void {
    if (message.op === 'close') this.closing = true;
    this.thread.postMessage(message);
  }

  /**
   * Closes the connections left with `code` and ends the thread; resolves once it has ended (at
   * once if it has). The process must not exit before: a thread that ends holding uWS sockets
   * aborts it.
   */
  close(code: number, reason: string, failed = false): Promise<number> {
    if (!this.closing) this.send({ op: 'close', code, reason, failed });
    return this.exited;
  }

  private settle(id: number, value: unknown): void {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    pending?.resolve(value);
  }
}
