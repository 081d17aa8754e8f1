// The control thread's hold on one acceptor thread: starts it, waits until it listens, turns the
// control thread's calls into requests, and answers what the acceptor asks
// (acceptor/acceptor-messages.ts).
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/logger.js';
import type { AcceptorReplies, AcceptorRequest, AcceptorThreadData, ControlAsk, FromAcceptor, ToAcceptor } from '../acceptor/acceptor-messages.js';
import { PendingReplies, replyOf } from '../acceptor/pending-replies.js';

const ACCEPTOR_FILE = fileURLToPath(new URL('../acceptor/acceptor-thread.js', import.meta.url));

/** What the control thread does about an acceptor's messages. */
export interface AcceptorEvents {
  /** A fault the acceptor reported: the engine cannot go on safely. */
  onFatal(error: Error): void;
  /** The thread ended unasked (it closed its sockets first). */
  onCrash(code: number): void;
  /** Answers what the acceptor asks. */
  onAsk(ask: ControlAsk): Promise<unknown>;
  /** Producers the acceptor forgot on its own. */
  onProducersForgotten(names: string[]): void;
}

export class AcceptorHandle {
  private readonly replies = new PendingReplies();
  /** Set once the control thread asked it to end: its exit is then expected. */
  private closing = false;
  /** Set once the thread has ended. */
  ended = false;
  /** Resolves with the thread's exit code once it has ended. */
  readonly exited: Promise<number>;

  private constructor(
    private readonly thread: Worker,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) =>
      thread.once('exit', (code) => {
        this.ended = true;
        this.replies.rejectAll(new Error(`acceptor thread ended with ${code} before it answered`));
        resolve(code);
      }),
    );
  }

  /** Starts acceptor thread `data.acceptor` and resolves once it listens; rejects with the reason it could not. */
  static start(data: AcceptorThreadData, log: Logger, events: AcceptorEvents): Promise<AcceptorHandle> {
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
            return handle?.replies.settle(message);
          case 'ask':
            void replyOf(message.id, events.onAsk(message.ask)).then((reply) => {
              if (!handle?.ended) thread.postMessage({ op: 'answer', ...reply } satisfies ToAcceptor);
            });
            return;
          case 'producers-forgotten':
            return events.onProducersForgotten(message.names);
          case 'fatal':
            return events.onFatal(new Error(message.message));
        }
      });
      thread.on('error', (error) => {
        log.error({ err: error, acceptor: data.acceptor }, 'acceptor thread error');
        if (handle === null) reject(error);
      });
      thread.on('exit', (code) => {
        if (handle === null) reject(new Error(`acceptor thread ${data.acceptor} ended with ${code} before it listened`));
        else if (!handle.closing) events.onCrash(code);
      });
    });
  }

  /** Asks the acceptor; rejects if its thread ends first. */
  request<R extends AcceptorRequest>(request: R): Promise<AcceptorReplies[R['op']]> {
    if (this.ended) return Promise.reject(new Error('the acceptor thread has ended'));
    return this.replies.ask((id) => this.send({ op: 'request', id, request }));
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
}
